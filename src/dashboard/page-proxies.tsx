// Every sidecar the control plane knows: connected ones with their config standing, and the
// ones that dropped off made to stand out. A proxy the registry has forgotten (its grace period
// ended) stays on this page as "gone" until the tab is closed, so a person who looks away does
// not miss that it disappeared.
import { useMemo } from 'preact/hooks';
import type { ProxyRow } from './api-types.js';
import { serviceHref } from './hash-route.js';
import { fmtDuration, fmtLabels, none } from './format.js';
import { useNow, useTopic } from './live-store.js';

const seen = new Map<string, ProxyRow>();

type Standing = 'in-sync' | 'syncing' | 'nack' | 'disconnected' | 'gone';

function standing(p: ProxyRow, gone: boolean): Standing {
  if (gone) return 'gone';
  if (!p.connected) return 'disconnected';
  if (p.lastNack && p.lastNack.version === p.sentVersion) return 'nack';
  return p.ackedVersion !== null && p.ackedVersion === p.sentVersion ? 'in-sync' : 'syncing';
}

const standingText: Record<Standing, string> = { 'in-sync': 'in sync', syncing: 'syncing', nack: 'NACKed', disconnected: 'DISCONNECTED', gone: 'GONE' };
const standingClass: Record<Standing, string> = { 'in-sync': 'good', syncing: 'warn', nack: 'bad', disconnected: 'bad', gone: 'bad' };

// a certificate inside its last day stands out: renewal should have replaced it long before
function CertExpiry({ at, now }: { at: string | null | undefined; now: number }) {
  if (!at) return <span class="muted">{none}</span>;
  const left = Date.parse(at) - now;
  const cls = left <= 0 ? 'bad' : left < 86_400_000 ? 'warn' : 'good';
  return <span class={`badge ${cls}`} title={at}>{left <= 0 ? `expired ${fmtDuration(-left)} ago` : `in ${fmtDuration(left)}`}</span>;
}

// the sidecar's own uptime when it says when it started (a reconnection to the control plane
// does not reset it); else how long its stream has been up; a proxy that dropped off: how long ago
function Uptime({ p, up, now }: { p: ProxyRow; up: boolean; now: number }) {
  if (!up) return p.disconnectedAt ? <>down {fmtDuration(now - Date.parse(p.disconnectedAt))}</> : <>{none}</>;
  const connected = p.connectedAt ? `connected ${fmtDuration(now - Date.parse(p.connectedAt))} ago` : '';
  if (p.startedAt) return <span title={`started ${p.startedAt}; ${connected}`} data-started-at={p.startedAt}>{fmtDuration(now - Date.parse(p.startedAt))}</span>;
  return p.connectedAt ? <span class="muted" title="this sidecar does not say when it started">{connected}</span> : <>{none}</>;
}

export function PageProxies() {
  const [proxies] = useTopic('proxies');
  const now = useNow(1000);
  const rows = useMemo(() => {
    const current = new Set<string>();
    for (const p of proxies ?? []) {
      seen.set(p.id, p);
      current.add(p.id);
    }
    return [...seen.values()].map((p) => ({ p, s: standing(p, proxies !== undefined && !current.has(p.id)) }))
      .sort((a, b) => a.p.service.localeCompare(b.p.service) || a.p.id.localeCompare(b.p.id));
  }, [proxies]);
  const down = rows.filter((r) => r.s === 'disconnected' || r.s === 'gone').length;
  const nacked = rows.filter((r) => r.s === 'nack').length;
  return (
    <section class="proxies">
      <h1 tabIndex={-1}>Proxies</h1>
      <p class="hint" data-testid="proxies-summary">
        {proxies === undefined ? 'Waiting for the control plane…' : `${rows.length - down} connected`}
        {down > 0 && <strong class="bad-text"> · {down} disconnected or gone</strong>}
        {nacked > 0 && <strong class="bad-text"> · {nacked} refused their config</strong>}
      </p>
      <table data-testid="proxies-table">
        <thead>
          <tr><th>Proxy</th><th>Service</th><th>Address</th><th>Zone</th><th>Labels</th><th>Standing</th><th>Config (acked / sent)</th><th>Last NACK</th><th>Certificate expiry</th><th class="num">Uptime</th></tr>
        </thead>
        <tbody>
          {rows.map(({ p, s }) => {
            return (
              <tr key={p.id} data-proxy={p.id} data-standing={s} class={`standing-${s}`}>
                <td><code>{p.id}</code></td>
                <td><a href={serviceHref(p.service)}>{p.service}</a>{p.namespace !== 'default' && <span class="muted"> ({p.namespace})</span>}</td>
                <td><code>{p.address}</code></td>
                <td>{p.zone || none}</td>
                <td>{fmtLabels(p.labels)}</td>
                <td><span class={`badge ${standingClass[s]}`}>{standingText[s]}</span></td>
                <td><code>{p.ackedVersion ?? none}</code> / <code>{p.sentVersion ?? none}</code></td>
                <td class={p.lastNack ? 'bad-text' : undefined}>{p.lastNack ? <><code>{p.lastNack.version}</code>: {p.lastNack.error}</> : none}</td>
                <td><CertExpiry at={p.certExpiry} now={now} /></td>
                <td class="num" data-field="uptime"><Uptime p={p} up={s === 'in-sync' || s === 'syncing' || s === 'nack'} now={now} /></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
