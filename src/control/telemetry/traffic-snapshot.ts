// What the control plane keeps from one sidecar scrape: per (direction, route, cluster) the
// request count, the failures among them and the latency histogram. Everything else in /metrics
// (process metrics, connection gauges) is left to a real Prometheus.
import type { PromSample } from './prom-text-parser.js';

export interface TrafficCounts {
  direction: string;
  route: string;
  cluster: string;
  requests: number;
  /** 5xx answers and errors the proxy made itself. */
  failures: number;
  /** Cumulative histogram counts by upper bound in seconds (Infinity for +Inf). */
  buckets: Map<number, number>;
}

/** Keyed by trafficKey(). */
export type TrafficSnapshot = Map<string, TrafficCounts>;

export const requestsMetric = 'trellis_requests_total';
export const durationBucketMetric = 'trellis_request_duration_seconds_bucket';

export function trafficKey(direction: string, route: string, cluster: string): string {
  return `${direction}\u0000${route}\u0000${cluster}`;
}

export function isFailure(statusCode: string, error: string): boolean {
  return error !== '' || !(Number(statusCode) < 500);
}

export function snapshotFromSamples(samples: readonly PromSample[]): TrafficSnapshot {
  const snap: TrafficSnapshot = new Map();
  const entry = (l: Record<string, string>): TrafficCounts => {
    const direction = l.direction ?? '';
    const route = l.route ?? '';
    const cluster = l.cluster ?? '';
    const key = trafficKey(direction, route, cluster);
    let e = snap.get(key);
    if (!e) {
      e = { direction, route, cluster, requests: 0, failures: 0, buckets: new Map() };
      snap.set(key, e);
    }
    return e;
  };
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    if (s.name === requestsMetric) {
      const e = entry(s.labels);
      e.requests += s.value;
      if (isFailure(s.labels.status_code ?? '', s.labels.error ?? '')) e.failures += s.value;
    } else if (s.name === durationBucketMetric) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (Number.isNaN(le)) continue;
      const e = entry(s.labels);
      e.buckets.set(le, (e.buckets.get(le) ?? 0) + s.value);
    }
  }
  return snap;
}

/**
 * What happened between two scrapes of one sidecar. A series that shrank means the sidecar
 * restarted (counters reset), so its current value is all new, as Prometheus' rate() assumes.
 */
export function snapshotDelta(prev: TrafficSnapshot | undefined, cur: TrafficSnapshot): TrafficCounts[] {
  const out: TrafficCounts[] = [];
  for (const [key, c] of cur) {
    const p = prev?.get(key);
    if (!p || wasReset(p, c)) {
      if (c.requests > 0 || [...c.buckets.values()].some((v) => v > 0)) out.push(copy(c));
      continue;
    }
    const buckets = new Map<number, number>();
    for (const [le, v] of c.buckets) buckets.set(le, v - (p.buckets.get(le) ?? 0));
    const d: TrafficCounts = { ...c, requests: c.requests - p.requests, failures: c.failures - p.failures, buckets };
    if (d.requests > 0 || (buckets.get(Infinity) ?? 0) > 0) out.push(d);
  }
  return out;
}

function wasReset(p: TrafficCounts, c: TrafficCounts): boolean {
  if (c.requests < p.requests || c.failures < p.failures) return true;
  for (const [le, v] of c.buckets) if (v < (p.buckets.get(le) ?? 0)) return true;
  return false;
}

function copy(c: TrafficCounts): TrafficCounts {
  return { ...c, buckets: new Map(c.buckets) };
}
