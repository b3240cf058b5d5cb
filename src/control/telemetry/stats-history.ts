// A short, bounded history of mesh traffic: one tick per scrape round holding what every sidecar
// counted since the previous round, merged by (source service, direction, route, cluster). Memory
// grows with the number of distinct label sets, never with traffic or the number of proxies.
import { histogramQuantile, type Bucket } from './histogram-quantile.js';
import type { TrafficCounts } from './traffic-snapshot.js';

export interface StatsRow {
  /** service: what the service's sidecars served (inbound); route: traffic to the service by route; edge: caller → callee. */
  kind: 'service' | 'route' | 'edge';
  service: string;
  route: string | null;
  from?: string;
  to?: string;
  requests: number;
  rps: number;
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  window: string;
}

export interface HistoryPoint {
  at: string;
  requests: number;
  rps: number;
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

interface Entry {
  service: string;
  direction: string;
  route: string;
  cluster: string;
  requests: number;
  failures: number;
  buckets: Map<number, number>;
}

interface Tick {
  at: number;
  entries: Map<string, Entry>;
}

interface Acc {
  requests: number;
  failures: number;
  buckets: Map<number, number>;
}

export interface StatsHistoryOptions {
  retentionMs?: number;
  /** Label sets kept per tick; beyond it a tick drops the rest (and says so in `dropped`). */
  maxEntriesPerTick?: number;
}

/** `api.default` → `api`: the compiler names a service's cluster `<service>.<namespace>`. */
export function clusterService(cluster: string): string | null {
  if (cluster === '' || cluster.includes('|')) return null;
  const dot = cluster.indexOf('.');
  return dot < 0 ? cluster : cluster.slice(0, dot);
}

export function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export class StatsHistory {
  private readonly ticks: Tick[] = [];
  private readonly retentionMs: number;
  private readonly maxEntries: number;
  private coveredSince: number | undefined;
  /** Label sets dropped by the per-tick bound since start. */
  dropped = 0;

  constructor(opts: StatsHistoryOptions = {}) {
    this.retentionMs = opts.retentionMs ?? 3_600_000;
    this.maxEntries = opts.maxEntriesPerTick ?? 20_000;
  }

  /** The time from which traffic is known (the first scrape round); rates are over what is covered. */
  begin(at: number): void {
    this.coveredSince ??= at;
  }

  get tickCount(): number {
    return this.ticks.length;
  }

  /** When the latest scrape round was taken (the end of every query's window); undefined before the first. */
  get latestAt(): number | undefined {
    return this.ticks.at(-1)?.at;
  }

  /** Adds one scrape round: per source service, what its sidecars counted since the previous round. */
  record(at: number, deltas: readonly { service: string; counts: TrafficCounts }[]): void {
    this.begin(at);
    const entries = new Map<string, Entry>();
    for (const { service, counts: c } of deltas) {
      const key = `${service}\u0000${c.direction}\u0000${c.route}\u0000${c.cluster}`;
      let e = entries.get(key);
      if (!e) {
        if (entries.size >= this.maxEntries) {
          this.dropped++;
          continue;
        }
        e = { service, direction: c.direction, route: c.route, cluster: c.cluster, requests: 0, failures: 0, buckets: new Map() };
        entries.set(key, e);
      }
      e.requests += c.requests;
      e.failures += c.failures;
      for (const [le, v] of c.buckets) e.buckets.set(le, (e.buckets.get(le) ?? 0) + v);
    }
    this.ticks.push({ at, entries });
    while (this.ticks.length > 0 && this.ticks[0].at <= at - this.retentionMs) this.ticks.shift();
  }

  /** Rows over the last `windowMs` before the latest round; with `service`, only rows that involve it. */
  query(windowMs: number, service?: string): StatsRow[] {
    const end = this.ticks.at(-1)?.at;
    if (end === undefined) return [];
    const start = end - windowMs;
    const seconds = this.coveredSeconds(start, end);
    const window = formatWindow(windowMs);
    const services = new Map<string, Acc>();
    const routes = new Map<string, Acc>();
    const edges = new Map<string, Acc>();
    for (const tick of this.ticks) {
      if (tick.at <= start) continue;
      for (const e of tick.entries.values()) {
        if (e.direction === 'inbound') {
          add(services, e.service, e);
          continue;
        }
        const to = clusterService(e.cluster);
        if (e.direction !== 'outbound' || to === null) continue;
        add(edges, `${e.service}\u0000${to}`, e);
        if (e.route !== '') add(routes, `${to}\u0000${e.route}`, e);
      }
    }
    const rows: StatsRow[] = [];
    for (const [name, acc] of services) {
      if (!service || name === service) rows.push({ kind: 'service', service: name, route: null, ...figures(acc, seconds), window });
    }
    for (const [key, acc] of routes) {
      const [to, route] = key.split('\u0000');
      if (!service || to === service) rows.push({ kind: 'route', service: to, route, ...figures(acc, seconds), window });
    }
    for (const [key, acc] of edges) {
      const [from, to] = key.split('\u0000');
      if (!service || from === service || to === service) {
        rows.push({ kind: 'edge', service: to, route: null, from, to, ...figures(acc, seconds), window });
      }
    }
    const order = { service: 0, route: 1, edge: 2 };
    return rows.sort((a, b) =>
      order[a.kind] - order[b.kind] || cmp(a.service, b.service) || cmp(a.route ?? '', b.route ?? '') || cmp(a.from ?? '', b.from ?? ''));
  }

  /** What a service served (inbound), in steps of `stepMs` over the last `windowMs`: the dashboard's time series. */
  series(service: string, windowMs: number, stepMs: number): HistoryPoint[] {
    return this.seriesOf((e) => e.direction === 'inbound' && e.service === service, windowMs, stepMs);
  }

  /** What a caller sent a callee (its sidecars' outbound counts), stepped like `series`: one edge of the topology over time. */
  edgeSeries(from: string, to: string, windowMs: number, stepMs: number): HistoryPoint[] {
    return this.seriesOf((e) => e.direction === 'outbound' && e.service === from && clusterService(e.cluster) === to, windowMs, stepMs);
  }

  private seriesOf(wanted: (e: Entry) => boolean, windowMs: number, stepMs: number): HistoryPoint[] {
    const end = this.ticks.at(-1)?.at;
    if (end === undefined || stepMs <= 0) return [];
    const steps = Math.min(Math.ceil(windowMs / stepMs), 2000);
    const first = end - steps * stepMs;
    const accs: (Acc | undefined)[] = new Array(steps);
    for (const tick of this.ticks) {
      if (tick.at <= first) continue;
      const i = Math.min(steps - 1, Math.ceil((tick.at - first) / stepMs) - 1);
      for (const e of tick.entries.values()) {
        if (!wanted(e)) continue;
        accs[i] ??= { requests: 0, failures: 0, buckets: new Map() };
        merge(accs[i]!, e);
      }
    }
    const points: HistoryPoint[] = [];
    for (let i = 0; i < steps; i++) {
      const stepEnd = first + (i + 1) * stepMs;
      if (this.coveredSince === undefined || stepEnd <= this.coveredSince) continue;
      const acc = accs[i] ?? { requests: 0, failures: 0, buckets: new Map() };
      points.push({ at: new Date(stepEnd).toISOString(), ...figures(acc, this.coveredSeconds(stepEnd - stepMs, stepEnd)) });
    }
    return points;
  }

  private coveredSeconds(start: number, end: number): number {
    const from = Math.max(start, this.coveredSince ?? start);
    const ms = end - from;
    return ms > 0 ? ms / 1000 : (end - start) / 1000;
  }
}

function add(map: Map<string, Acc>, key: string, e: Entry): void {
  let acc = map.get(key);
  if (!acc) {
    acc = { requests: 0, failures: 0, buckets: new Map() };
    map.set(key, acc);
  }
  merge(acc, e);
}

function merge(acc: Acc, e: Entry): void {
  acc.requests += e.requests;
  acc.failures += e.failures;
  for (const [le, v] of e.buckets) acc.buckets.set(le, (acc.buckets.get(le) ?? 0) + v);
}

function figures(acc: Acc, seconds: number) {
  const buckets: Bucket[] = [...acc.buckets].map(([le, count]) => ({ le, count }));
  const ms = (q: number) => {
    const v = histogramQuantile(q, buckets);
    return v === null ? null : round(v * 1000, 3);
  };
  return {
    requests: acc.requests,
    rps: seconds > 0 ? round(acc.requests / seconds, 3) : 0,
    successRate: acc.requests > 0 ? round((acc.requests - acc.failures) / acc.requests, 4) : null,
    p50Ms: ms(0.5),
    p95Ms: ms(0.95),
    p99Ms: ms(0.99),
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
