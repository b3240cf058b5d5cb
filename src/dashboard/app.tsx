// The frame around every page: navigation, the connection's standing, the API token form, and
// a hash router (`#/`, `#/service/<name>`, `#/proxies`), so a page is a link a person can share.
import { useEffect, useState } from 'preact/hooks';
import { apiToken, setApiToken } from './api-client.js';
import type { EventStreamHandle } from './event-stream.js';
import { useConnection } from './live-store.js';
import { PageCanaries } from './page-canaries.js';
import { PageProxies } from './page-proxies.js';
import { PageService } from './page-service.js';
import { PageTopology } from './page-topology.js';
import { PageTap } from './page-tap.js';
import { parseRoute, type Route } from './hash-route.js';

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
const shortcuts: Record<string, string> = { t: '#/', p: '#/proxies' };

function useShortcuts(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      const to = shortcuts[e.key];
      if (to) {
        location.hash = to;
        e.preventDefault();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
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
  useShortcuts();
  useEffect(() => {
    document.title = route.page === 'service' ? `${route.name} · Trellis` : `${route.page} · Trellis`;
    // the page heading takes focus after navigation, so keyboard and screen-reader users land on the new page
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [route.page, route.page === 'service' ? route.name : '']);
  const link = (href: string, label: string, active: boolean, key?: string) => (
    <a href={href} aria-current={active ? 'page' : undefined} class={active ? 'active' : undefined}>
      {label}{key && <kbd aria-hidden="true">{key}</kbd>}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <span class="brand">Trellis</span>
        <nav aria-label="Pages">
          {link('#/', 'Topology', route.page === 'topology' || route.page === 'service', 't')}
          {link('#/proxies', 'Proxies', route.page === 'proxies', 'p')}
          {link('#/tap', 'Live tap', route.page === 'tap')}
          {link('#/canaries', 'Canaries', route.page === 'canaries')}
        </nav>
        <ConnectionBadge />
        <TokenForm stream={stream} />
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'topology' && <PageTopology />}
        {route.page === 'service' && <PageService key={route.name} name={route.name} />}
        {route.page === 'proxies' && <PageProxies />}
        {route.page === 'tap' && <PageTap />}
        {route.page === 'canaries' && <PageCanaries />}
      </main>
    </>
  );
}
