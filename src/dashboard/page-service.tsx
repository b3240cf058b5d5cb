// One service: its golden metrics over time, the routes that send it traffic (matches, weights
// and what each backend actually receives), its endpoints as the sidecars see them, the
// resilience and authorization policies aimed at it, and who calls it and whom it calls.
import { useMemo } from 'preact/hooks';
import type { PolicyRow, RouteMatch, RouteRow, StatsRow } from './api-types.js';
import { serviceHref } from './hash-route.js';
import { fmtLabels, fmtMs, fmtPct, fmtRps, health, none } from './format.js';
import { useNow, useTopic } from './live-store.js';
import { TrafficCharts } from './traffic-charts.js';

function matchText(kind: RouteRow['kind'], m: RouteMatch): string {
  if (kind === 'GRPCRoute') {
    const method = m.method ? `${m.method.type === 'RegularExpression' ? 'RegularExpression ' : ''}${m.method.service ?? '*'}/${m.method.method ?? '*'}` : 'any gRPC call';
    return m.headers?.length ? `${method} [${m.headers.map((h) => `${h.name}${h.type === 'RegularExpression' ? ' ~ ' : '='}${h.value}`).join(', ')}]` : method;
  }
  return `${m.path?.type ?? 'PathPrefix'} ${m.path?.value ?? '/'}`;
}

/** The route name the sidecars' metrics carry for a rule (docs/xds.md: GRPCRoute rules are prefixed). */
function ruleLabel(r: RouteRow, i: number): string {
  return r.kind === 'GRPCRoute' ? `grpc:${r.metadata.name}.${i}` : `${r.metadata.name}.${i}`;
}

function Routes({ name, routes, stats }: { name: string; routes: RouteRow[]; stats: StatsRow[] }) {
  const mine = routes.filter((r) => r.spec.parentRefs.some((p) => p.name === name));
  const routeRps = (route: string, backend: string) => stats.find((s) => s.kind === 'route' && s.route === route && s.service === backend);
  if (mine.length === 0) {
    const own = stats.filter((s) => s.kind === 'route' && s.service === name && s.route?.startsWith(`${name}.`));
    return (
      <section aria-labelledby="routes-h">
        <h2 id="routes-h">Routes</h2>
        <p class="muted">No HTTPRoute or GRPCRoute names {name} as its parent: every request to {name} goes to its own endpoints
          {own.length > 0 && <> ({own.map((o) => `${fmtRps(o.rps)} in the last minute`).join(', ')})</>}.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="routes-h">
      <h2 id="routes-h">Routes</h2>
      {mine.map((r) => (
        <div key={`${r.kind}/${r.metadata.name}`} class="route" data-route={r.metadata.name} data-kind={r.kind}>
          <h3>{r.metadata.name} <span class="muted small">{r.kind}</span> {!r.status.accepted && <span class="badge bad" title={r.status.message}>not accepted: {r.status.reason}</span>}</h3>
          {!r.status.accepted && <p class="error">{r.status.message}</p>}
          <table>
            <thead><tr><th>Rule</th><th>Matches</th><th>Backend</th><th class="num">Weight</th><th class="num">Share set</th><th class="num">Actual RPS</th><th class="num">Actual share</th><th class="num">Success</th></tr></thead>
            <tbody>
              {r.spec.rules.map((rule, i) => {
                const total = rule.backendRefs.reduce((a, b) => a + (b.weight ?? 1), 0);
                const label = ruleLabel(r, i);
                const actual = rule.backendRefs.map((b) => routeRps(label, b.name));
                const actualTotal = actual.reduce((a, s) => a + (s?.rps ?? 0), 0);
                return rule.backendRefs.map((b, j) => {
                  const s = actual[j];
                  const weight = b.weight ?? 1;
                  return (
                    <tr key={`${i}/${b.name}`} data-rule={i} data-backend={b.name}>
                      {j === 0 && <td rowSpan={rule.backendRefs.length}>{rule.name ?? `#${i}`}</td>}
                      {j === 0 && <td rowSpan={rule.backendRefs.length}>{(rule.matches ?? [{}]).map((m) => <div key={matchText(r.kind, m)}><code>{matchText(r.kind, m)}</code></div>)}</td>}
                      <td><a href={serviceHref(b.name)}>{b.name}</a></td>
                      <td class="num" data-field="weight">{weight}</td>
                      <td class="num">{total > 0 ? fmtPct(weight / total, 0) : none}</td>
                      <td class="num">{fmtRps(s?.rps ?? 0)}</td>
                      <td class="num" data-field="actual-share">{actualTotal > 0 ? fmtPct((s?.rps ?? 0) / actualTotal, 0) : none}</td>
                      <td class="num">{fmtPct(s?.successRate)}</td>
                    </tr>
                  );
                });
              })}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

function Endpoints({ name }: { name: string }) {
  const [endpoints] = useTopic('endpoints');
  const now = useNow(1000);
  const mine = (endpoints ?? []).filter((e) => e.service === name);
  return (
    <section aria-labelledby="endpoints-h">
      <h2 id="endpoints-h">Endpoints</h2>
      {endpoints === undefined ? <p class="muted">Waiting for the control plane…</p> : mine.length === 0 ? <p class="muted">No endpoints.</p> : (
        <table data-testid="endpoints-table">
          <thead><tr><th>Address</th><th>Proxy</th><th>Zone</th><th>Labels</th><th>State</th><th class="num">In flight</th><th class="num">EWMA cost</th></tr></thead>
          <tbody>
            {mine.map((e) => (
              <tr key={`${e.address}:${e.port}`} data-endpoint={`${e.address}:${e.port}`} class={`state-${e.state}`}>
                <td><code>{e.address}:{e.port}</code></td>
                <td>{e.proxyId}</td>
                <td>{e.zone || none}</td>
                <td>{fmtLabels(e.labels)}</td>
                <td>
                  <span class={`badge ${e.state === 'healthy' ? 'good' : 'bad'}`}>{e.state}</span>
                  {e.ejectedUntil && <span class="muted"> for {Math.max(0, Math.ceil((Date.parse(e.ejectedUntil) - now) / 1000))} s more</span>}
                </td>
                <td class="num">{e.inFlight ?? none}</td>
                <td class="num">{fmtMs(e.ewmaMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Policies({ name, routes, policies }: { name: string; routes: RouteRow[]; policies: PolicyRow[] | undefined }) {
  const myRoutes = new Set(routes.filter((r) => r.spec.parentRefs.some((p) => p.name === name)).map((r) => `${r.kind}/${r.metadata.name}`));
  const all = policies ?? [];
  const mine = all.filter((p) => p.kind === 'ResiliencePolicy' && p.spec.targetRef
    && ((p.spec.targetRef.kind === 'Service' && p.spec.targetRef.name === name)
      || myRoutes.has(`${p.spec.targetRef.kind}/${p.spec.targetRef.name}`)));
  // an AuthorizationPolicy without a target covers every service of its namespace
  const authz = all.filter((p) => p.kind === 'AuthorizationPolicy'
    && (!p.spec.targetRef || (p.spec.targetRef.kind === 'Service' && p.spec.targetRef.name === name)));
  const status = (p: PolicyRow) => (p.status.accepted ? <span class="badge good">in force</span> : <span class="badge bad" title={p.status.message}>{p.status.reason ?? 'not accepted'}</span>);
  return (
    <section aria-labelledby="policies-h">
      <h2 id="policies-h">Policies</h2>
      <h3>Resilience</h3>
      {mine.length === 0 ? <p class="muted">No ResiliencePolicy targets {name} or its routes; the mesh defaults apply.</p> : (
        <table>
          <thead><tr><th>Policy</th><th>Target</th><th>Sets</th><th>Status</th></tr></thead>
          <tbody>
            {mine.map((p) => (
              <tr key={p.metadata.name}>
                <td>{p.metadata.name}</td>
                <td>{p.spec.targetRef!.kind} {p.spec.targetRef!.name}{p.spec.targetRef!.sectionName ? ` (${p.spec.targetRef!.sectionName})` : ''}</td>
                <td>{Object.keys(p.spec).filter((k) => k !== 'targetRef').join(', ') || none}</td>
                <td>{status(p)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Authorization</h3>
      {authz.length === 0 ? <p class="muted">No AuthorizationPolicy covers {name}; the MeshConfig default decides.</p> : (
        <table>
          <thead><tr><th>Policy</th><th>Action</th><th>Scope</th><th>Rules</th><th>Status</th></tr></thead>
          <tbody>
            {authz.map((p) => (
              <tr key={`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`}>
                <td>{p.metadata.name}</td>
                <td>{p.spec.action ?? 'ALLOW'}</td>
                <td>{p.spec.targetRef ? `Service ${p.spec.targetRef.name}` : `namespace ${p.metadata.namespace ?? 'default'}`}</td>
                <td>{(p.spec.rules ?? []).length}</td>
                <td>{status(p)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Per caller, its calls to the route's backends summed: rps and requests add; success is request-weighted; latency is the worst. */
function viaBackends(edges: StatsRow[]): StatsRow[] {
  const byCaller = new Map<string, StatsRow>();
  for (const e of edges) {
    const acc = byCaller.get(e.from!);
    if (!acc) {
      byCaller.set(e.from!, { ...e });
      continue;
    }
    const ok = (acc.successRate ?? 0) * acc.requests + (e.successRate ?? 0) * e.requests;
    acc.requests += e.requests;
    acc.rps += e.rps;
    acc.successRate = acc.requests > 0 ? ok / acc.requests : null;
    acc.p50Ms = Math.max(acc.p50Ms ?? 0, e.p50Ms ?? 0) || null;
    acc.p99Ms = Math.max(acc.p99Ms ?? 0, e.p99Ms ?? 0) || null;
  }
  return [...byCaller.values()];
}

function Neighbours({ name, stats, routes }: { name: string; stats: StatsRow[]; routes: RouteRow[] }) {
  // a caller of a routed service reaches it through the route's backends: count those calls here too
  const backends = new Set(routes.filter((r) => r.spec.parentRefs.some((p) => p.name === name))
    .flatMap((r) => r.spec.rules.flatMap((rule) => rule.backendRefs.map((b) => b.name))));
  const direct = stats.filter((s) => s.kind === 'edge' && s.to === name);
  const callers = backends.size === 0 ? direct : viaBackends(stats.filter((s) => s.kind === 'edge' && (s.to === name || backends.has(s.to!))));
  const callees = stats.filter((s) => s.kind === 'edge' && s.from === name);
  const table = (rows: StatsRow[], other: (s: StatsRow) => string, id: string, what: string) => rows.length === 0 ? <p class="muted">No {what} in the last minute.</p> : (
    <table data-testid={id}>
      <thead><tr><th>Service</th><th class="num">RPS</th><th class="num">Success</th><th class="num">p50</th><th class="num">p99</th></tr></thead>
      <tbody>
        {rows.map((s) => (
          <tr key={other(s)} data-service={other(s)} class={`health-${health(s.successRate, s.requests)}`}>
            <td><a href={serviceHref(other(s))}>{other(s)}</a></td>
            <td class="num">{fmtRps(s.rps)}</td><td class="num">{fmtPct(s.successRate)}</td><td class="num">{fmtMs(s.p50Ms)}</td><td class="num">{fmtMs(s.p99Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <div class="columns">
      <section aria-labelledby="callers-h"><h2 id="callers-h">Callers{backends.size > 0 && <span class="muted small"> (directly or through its routes)</span>}</h2>{table(callers, (s) => s.from!, 'callers-table', 'callers')}</section>
      <section aria-labelledby="callees-h"><h2 id="callees-h">Callees</h2>{table(callees, (s) => s.to!, 'callees-table', 'callees')}</section>
    </div>
  );
}

export function PageService({ name }: { name: string }) {
  const [services] = useTopic('services');
  const [httpRoutes] = useTopic('routes');
  const [grpcRoutes] = useTopic('grpcroutes');
  // gRPC calls go by the GRPCRoutes first (docs/xds.md), so they are listed first
  const routes = useMemo(() => (httpRoutes || grpcRoutes ? [...(grpcRoutes ?? []), ...(httpRoutes ?? [])] : undefined), [httpRoutes, grpcRoutes]);
  const [stats] = useTopic('stats');
  const [policies] = useTopic('policies');
  const svc = services?.find((s) => s.metadata.name === name);
  const now = stats?.find((s) => s.kind === 'service' && s.service === name);
  const known = svc !== undefined || (stats ?? []).some((s) => s.service === name || s.from === name);
  return (
    <section class="service" data-service={name}>
      <p class="crumbs"><a href="#/">Topology</a> / service</p>
      <h1 tabIndex={-1}>{name}</h1>
      {services !== undefined && !known && <p class="error" role="alert">No service named {name} is known to the control plane.</p>}
      <dl class="summary">
        <div><dt>Namespace</dt><dd>{svc?.metadata.namespace ?? 'default'}</dd></div>
        <div><dt>Ports</dt><dd>{svc?.spec.ports?.map((p) => p.port).join(', ') || none}</dd></div>
        <div><dt>Endpoints</dt><dd>{svc ? `${svc.status.endpoints}${svc.status.draining ? ` (+${svc.status.draining} draining)` : ''}` : none}</dd></div>
        <div><dt>RPS (1m)</dt><dd>{fmtRps(now?.rps)}</dd></div>
        <div><dt>Success (1m)</dt><dd class={`health-${health(now?.successRate, now?.requests)}`}>{fmtPct(now?.successRate)}</dd></div>
        <div><dt>p50 / p95 / p99</dt><dd>{fmtMs(now?.p50Ms)} / {fmtMs(now?.p95Ms)} / {fmtMs(now?.p99Ms)}</dd></div>
      </dl>
      <TrafficCharts query={{ service: name }} title="Traffic served" />
      <Routes name={name} routes={routes ?? []} stats={stats ?? []} />
      <Endpoints name={name} />
      <Neighbours name={name} stats={stats ?? []} routes={routes ?? []} />
      <Policies name={name} routes={routes ?? []} policies={policies} />
    </section>
  );
}
