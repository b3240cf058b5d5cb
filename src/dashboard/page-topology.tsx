// Topology: services as nodes, caller → callee edges labelled with rps, success rate and p99 over
// the last minute, coloured by health. The tables under the graph carry the same figures and are
// the keyboard's way in (a canvas has no focusable parts).
import { useEffect, useMemo, useRef } from 'preact/hooks';
import type { StatsRow } from './api-types.js';
import { edgeHref, serviceHref } from './hash-route.js';
import { fmtMs, fmtPct, fmtRps, health, healthColor } from './format.js';
import { useTopic } from './live-store.js';
import { TopologyGraph, type GraphEdge, type GraphNode } from './topology-graph.js';

export function PageTopology() {
  const [services] = useTopic('services');
  const [stats] = useTopic('stats');

  const model = useMemo(() => {
    const byService = new Map<string, StatsRow>();
    const edges: StatsRow[] = [];
    for (const r of stats ?? []) {
      if (r.kind === 'service') byService.set(r.service, r);
      else if (r.kind === 'edge') edges.push(r);
    }
    const names = new Set<string>((services ?? []).map((s) => s.metadata.name));
    for (const e of edges) {
      names.add(e.from!);
      names.add(e.to!);
    }
    const maxRps = Math.max(1, ...edges.map((e) => e.rps));
    const nodes: GraphNode[] = [...names].sort().map((name) => {
      const s = byService.get(name);
      return { id: name, label: s ? `${name}\n${fmtRps(s.rps)}` : name, color: healthColor[health(s?.successRate, s?.requests)] };
    });
    const graphEdges: GraphEdge[] = edges.map((e) => ({
      id: `${e.from}->${e.to}`, source: e.from!, target: e.to!,
      label: `${fmtRps(e.rps)} · ${fmtPct(e.successRate)} · p99 ${fmtMs(e.p99Ms)}`,
      color: healthColor[health(e.successRate, e.requests)],
      width: 2 + Math.round((6 * e.rps) / maxRps),
    }));
    for (const svc of services ?? []) {
      const parent = svc.spec.selector?.app;
      if (parent && parent !== svc.metadata.name && names.has(parent)) {
        graphEdges.push({ id: `${svc.metadata.name}~${parent}`, source: svc.metadata.name, target: parent, label: 'subset of', color: healthColor.idle, width: 1, subset: true });
      }
    }
    return { nodes, edges: graphEdges, byService, statEdges: edges, names: [...names].sort() };
  }, [services, stats]);

  const box = useRef<HTMLDivElement>(null);
  const graph = useRef<TopologyGraph>();
  useEffect(() => {
    graph.current = new TopologyGraph(box.current!, {
      openService: (name) => (location.hash = serviceHref(name)),
      openEdge: (from, to) => (location.hash = edgeHref(from, to)),
    });
    return () => graph.current?.destroy();
  }, []);
  useEffect(() => {
    const g = graph.current!;
    g.update(model.nodes, model.edges);
    // what the graph holds, for people reading the DOM (and the browser tests)
    box.current!.dataset.nodes = g.nodeIds().join(',');
    box.current!.dataset.edges = g.edgeIds().join(',');
  }, [model]);

  const loaded = services !== undefined;
  return (
    <section class="topology">
      <h1 tabIndex={-1}>Topology</h1>
      <p class="hint">Last minute of traffic. Click a service or a call (or its arrow in the table) to open it; green ≥ 99% success, amber ≥ 95%, red below, grey idle.</p>
      <div ref={box} class="graph" data-testid="topology-graph" role="img"
        aria-label={`Call graph of ${model.names.length} services and ${model.edges.length} calls; the same figures are in the tables below`} />
      <div class="columns">
        <div>
          <h2>Services</h2>
          {!loaded ? <p class="muted">Waiting for the control plane…</p> : (
            <table data-testid="services-table">
              <thead><tr><th>Service</th><th class="num">RPS</th><th class="num">Success</th><th class="num">p50</th><th class="num">p99</th></tr></thead>
              <tbody>
                {model.names.map((name) => {
                  const s = model.byService.get(name);
                  return (
                    <tr key={name} data-service={name}>
                      <td><span class={`dot ${health(s?.successRate, s?.requests)}`} aria-hidden="true" /><a href={serviceHref(name)}>{name}</a></td>
                      <td class="num">{fmtRps(s?.rps)}</td><td class="num">{fmtPct(s?.successRate)}</td>
                      <td class="num">{fmtMs(s?.p50Ms)}</td><td class="num">{fmtMs(s?.p99Ms)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h2>Calls</h2>
          {model.statEdges.length === 0 ? <p class="muted">No calls between services in the last minute.</p> : (
            <table data-testid="edges-table">
              <thead><tr><th>Caller → callee</th><th class="num">RPS</th><th class="num">Success</th><th class="num">p99</th></tr></thead>
              <tbody>
                {model.statEdges.map((e) => (
                  <tr key={`${e.from}->${e.to}`} data-edge={`${e.from}->${e.to}`} class={`health-${health(e.successRate, e.requests)}`}>
                    <td><a href={serviceHref(e.from!)}>{e.from}</a> <a href={edgeHref(e.from!, e.to!)} aria-label={`the calls from ${e.from} to ${e.to}`} data-field="open-edge">→</a> <a href={serviceHref(e.to!)}>{e.to}</a></td>
                    <td class="num">{fmtRps(e.rps)}</td><td class="num">{fmtPct(e.successRate)}</td><td class="num">{fmtMs(e.p99Ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  );
}
