// One call of the topology, caller → callee: its figures over the last minute and over time,
// as the caller's sidecars counted them (what the caller saw, retries and errors the proxies
// made included), beside links to both services.
import { edgeHref, serviceHref } from './hash-route.js';
import { fmtMs, fmtPct, fmtRps, health } from './format.js';
import { useTopic } from './live-store.js';
import { TrafficCharts } from './traffic-charts.js';

export function PageEdge({ from, to }: { from: string; to: string }) {
  const [stats] = useTopic('stats');
  const now = stats?.find((s) => s.kind === 'edge' && s.from === from && s.to === to);
  // the way back, when the callee calls the caller too
  const reverse = stats?.some((s) => s.kind === 'edge' && s.from === to && s.to === from);
  return (
    <section class="edge" data-edge={`${from}->${to}`}>
      <p class="crumbs"><a href="#/">Topology</a> / call</p>
      <h1 tabIndex={-1}><a href={serviceHref(from)}>{from}</a> → <a href={serviceHref(to)}>{to}</a></h1>
      <p class="hint">What {from}'s sidecars sent {to} and what came back{reverse && <> · the other way: <a href={edgeHref(to, from)}>{to} → {from}</a></>}.</p>
      {stats !== undefined && !now && <p class="muted" role="status">No calls from {from} to {to} in the last minute.</p>}
      <dl class="summary" data-testid="edge-summary">
        <div><dt>RPS (1m)</dt><dd data-field="rps">{fmtRps(now?.rps)}</dd></div>
        <div><dt>Requests (1m)</dt><dd data-field="requests">{now?.requests ?? 0}</dd></div>
        <div><dt>Success (1m)</dt><dd data-field="success" class={`health-${health(now?.successRate, now?.requests)}`}>{fmtPct(now?.successRate)}</dd></div>
        <div><dt>p50 / p95 / p99</dt><dd data-field="latency">{fmtMs(now?.p50Ms)} / {fmtMs(now?.p95Ms)} / {fmtMs(now?.p99Ms)}</dd></div>
      </dl>
      <TrafficCharts query={{ from, to }} title="Calls over time" />
    </section>
  );
}
