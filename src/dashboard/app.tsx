// The frame around every page: navigation, the connection's standing, the API token form, and
// a hash router (`#/`, `#/service/<name>`, `#/proxies`, ...), so a page is a link a person can share.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { apiToken, setApiToken } from './api-client.js';
import type { EventStreamHandle } from './event-stream.js';
import { useConnection } from './live-store.js';
import { PageCanaries } from './page-canaries.js';
import { PageEdge } from './page-edge.js';
import { PageProxies } from './page-proxies.js';
import { PageService } from './page-service.js';
import { PageTopology } from './page-topology.js';
import { PageTap } from './page-tap.js';
import { parseRoute, type Route } from './hash-route.js';

function routeTitle(route: Route): string {
  return route.page === 'service' ? route.name : route.page === 'edge' ? `${route.from} → ${route.to}` : route.page;
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

// Single keys move between pages, as in many operator tools; never while typing in a field.
// The navigation shows each page's key, and `?` opens the list of them all.
const pages = [
  { key: 't', href: '#/', label: 'Topology' },
  { key: 'p', href: '#/proxies', label: 'Proxies' },
  { key: 'l', href: '#/tap', label: 'Live tap' },
  { key: 'c', href: '#/canaries', label: 'Canaries' },
] as const;

function useShortcuts(toggleHelp: () => void, closeHelp: () => void): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') return closeHelp();
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      if (e.key === '?') {
        toggleHelp();
        e.preventDefault();
        return;
      }
      const page = pages.find((p) => p.key === e.key);
      if (page) {
        closeHelp();
        location.hash = page.href;
        e.preventDefault();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [toggleHelp, closeHelp]);
}

function KeyboardHelp({ onClose }: { onClose: () => void }) {
  return (
    <section class="keys-help" role="dialog" aria-label="Keyboard shortcuts" data-testid="keys-help">
      <h2>Keyboard</h2>
      <table>
        <tbody>
          {pages.map((p) => <tr key={p.key}><td><kbd>{p.key}</kbd></td><td>{p.label}</td></tr>)}
          <tr><td><kbd>?</kbd></td><td>this list (again to close)</td></tr>
          <tr><td><kbd>Esc</kbd></td><td>close this list</td></tr>
          <tr><td><kbd>Tab</kbd> <kbd>Enter</kbd></td><td>move between links and open one; the tables under the graph list every service and call</td></tr>
        </tbody>
      </table>
      <button type="button" onClick={onClose}>Close</button>
    </section>
  );
}

function ConnectionBadge() {
  const c = useConnection();
  const text = c.state === 'live' ? 'live' : c.state === 'connecting' ? 'connecting…' : c.message;
  return <span class={`conn conn-${c.state}`} role="status" aria-live="polite" data-testid="connection">{text}</span>;
}

function TokenForm({ stream }: { stream: EventStreamHandle }) {
  const [value, setValue] = useState(apiToken());
  const [saved, setSaved] = useState(apiToken() !== '');
  return (
    <form class="token" onSubmit={(e) => {
      e.preventDefault();
      setApiToken(value.trim());
      setSaved(value.trim() !== '');
      stream.restart();
    }}>
      <label for="api-token">API token</label>
      <input id="api-token" type="password" autocomplete="off" value={value} placeholder={saved ? 'saved for this tab' : 'none'}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      <button type="submit">{value.trim() ? 'Use' : 'Clear'}</button>
    </form>
  );
}

export function App({ stream }: { stream: EventStreamHandle }) {
  const route = useRoute();
  const [help, setHelp] = useState(false);
  const toggleHelp = useCallback(() => setHelp((h) => !h), []);
  const closeHelp = useCallback(() => setHelp(false), []);
  useShortcuts(toggleHelp, closeHelp);
  useEffect(() => {
    document.title = `${routeTitle(route)} · Trellis`;
    // the page heading takes focus after navigation, so keyboard and screen-reader users land on the new page
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [routeTitle(route)]);
  const link = (href: string, label: string, active: boolean, key?: string) => (
    <a key={href} href={href} aria-current={active ? 'page' : undefined} class={active ? 'active' : undefined} aria-keyshortcuts={key}>
      {label}{key && <kbd aria-hidden="true">{key}</kbd>}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <span class="brand">Trellis</span>
        <nav aria-label="Pages">
          {pages.map((p) => link(p.href, p.label, p.href === '#/' ? ['topology', 'service', 'edge'].includes(route.page) : `#/${route.page}` === p.href, p.key))}
        </nav>
        <ConnectionBadge />
        <button type="button" class="keys" aria-expanded={help} aria-keyshortcuts="?" onClick={toggleHelp} data-testid="keys-button">Keys <kbd aria-hidden="true">?</kbd></button>
        <TokenForm stream={stream} />
      </header>
      {help && <KeyboardHelp onClose={closeHelp} />}
      <main id="main" tabIndex={-1}>
        {route.page === 'topology' && <PageTopology />}
        {route.page === 'service' && <PageService key={route.name} name={route.name} />}
        {route.page === 'edge' && <PageEdge key={`${route.from}->${route.to}`} from={route.from} to={route.to} />}
        {route.page === 'proxies' && <PageProxies />}
        {route.page === 'tap' && <PageTap />}
        {route.page === 'canaries' && <PageCanaries />}
      </main>
    </>
  );
}
