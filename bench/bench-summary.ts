import type { RepeatResult } from './bench-measure.js';
import type { TargetName } from './bench-options.js';
import { median } from './bench-stats.js';

const mb = 1024 * 1024;

/** One row of the report: medians over the repeats, and figures relative to nginx and direct. */
export interface TargetSummary {
  readonly target: TargetName;
  readonly status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  readonly reason: string | null;
  readonly note: string | null;
  /** The load generator: wrk (HTTP/1.1) or h2load (HTTP/2, gRPC); each has its own table. */
  readonly load: 'wrk' | 'h2load';
  readonly hops: number;
  readonly requestsPerSecond: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly requestsPerCpuSecond: number | null;
  readonly cpuUsPerRequest: number | null;
  /** CPU per request divided by the number of proxies on the path (the mesh has two). */
  readonly cpuUsPerRequestPerHop: number | null;
  readonly rssIdleMb: number | null;
  readonly rssLoadMb: number | null;
  /** requestsPerCpuSecond ÷ nginx's in the same run. */
  readonly ratioToNginx: number | null;
  /** (p50 − its direct target's p50) ÷ hops, at the latency run's connections. */
  readonly addedP50PerHopMs: number | null;
  /** Non-2xx responses and socket errors, summed over all measured runs. */
  readonly errors: number;
  /** Against the target this one is a variant of (e.g. mTLS against the plaintext mesh). */
  readonly baseline: BaselineComparison | null;
  readonly repeats: readonly RepeatResult[];
  readonly failures: readonly string[];
}

/**
 * A variant against its baseline in the same run. Ratios are medians of the per-repeat ratios:
 * both ran back to back in each repeat, so the machine's drift between repeats cancels out.
 */
export interface BaselineComparison {
  readonly target: TargetName;
  /** req/s ÷ the baseline's (below 1: slower). */
  readonly requestsPerSecondRatio: number | null;
  /** CPU µs per request ÷ the baseline's (above 1: costlier). */
  readonly cpuPerRequestRatio: number | null;
  /** Median p50 and p99 minus the baseline's, in ms. */
  readonly p50DeltaMs: number | null;
  readonly p99DeltaMs: number | null;
  /** p50 and p99 ÷ the baseline's (medians of the per-repeat ratios). */
  readonly p50Ratio: number | null;
  readonly p99Ratio: number | null;
}

export interface TargetOutcome {
  readonly target: TargetName;
  readonly hops: number;
  readonly note: string | null;
  /** 'wrk' when absent. */
  readonly load?: 'wrk' | 'h2load';
  readonly baseline?: TargetName;
  /** The direct target `+p50/hop` is measured from ('direct' when absent). */
  readonly direct?: TargetName;
  readonly skipped: string | null;
  readonly rssIdleBytes: number | null;
  readonly repeats: readonly RepeatResult[];
  readonly failures: readonly string[];
}

export function requestsPerCpuSecond(r: RepeatResult): number | null {
  return r.cpuSeconds !== null && r.cpuSeconds > 0 ? r.throughput.requests / r.cpuSeconds : null;
}

export function summarize(outcomes: readonly TargetOutcome[]): TargetSummary[] {
  const rows = outcomes.map(summarizeOne);
  const nginx = rows.find((r) => r.target === 'nginx')?.requestsPerCpuSecond ?? null;
  return rows.map((row, i) => {
    const direct = rows.find((r) => r.target === (outcomes[i].direct ?? 'direct'))?.p50Ms ?? null;
    return {
      ...row,
      // nginx proxies HTTP/1.1: CPU per request of an HTTP/2 path is not comparable with it.
      ratioToNginx: nginx !== null && row.requestsPerCpuSecond !== null && row.load === 'wrk' ? row.requestsPerCpuSecond / nginx : null,
      addedP50PerHopMs: direct !== null && row.p50Ms !== null && row.hops > 0 ? (row.p50Ms - direct) / row.hops : null,
      baseline: compareWithBaseline(row, outcomes[i].baseline, rows),
    };
  });
}

function cpuUsPerRequest(r: RepeatResult): number | null {
  return r.cpuSeconds !== null && r.throughput.requests > 0 ? (r.cpuSeconds * 1e6) / r.throughput.requests : null;
}

function compareWithBaseline(row: TargetSummary, baseline: TargetName | undefined, rows: readonly TargetSummary[]): BaselineComparison | null {
  const base = rows.find((r) => r.target === baseline);
  if (baseline === undefined || base === undefined || row.status !== 'ok' || base.status !== 'ok') return null;
  const pairs = row.repeats.flatMap((r) => {
    const b = base.repeats.find((x) => x.repeat === r.repeat);
    return b === undefined ? [] : [[r, b] as const];
  });
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);
  const delta = (a: number | null, b: number | null): number | null => (a !== null && b !== null ? a - b : null);
  return {
    target: baseline,
    requestsPerSecondRatio: median(pairs.map(([r, b]) => ratio(r.throughput.requestsPerSecond, b.throughput.requestsPerSecond))),
    cpuPerRequestRatio: median(pairs.map(([r, b]) => ratio(cpuUsPerRequest(r), cpuUsPerRequest(b)))),
    p50DeltaMs: delta(row.p50Ms, base.p50Ms),
    p99DeltaMs: delta(row.p99Ms, base.p99Ms),
    p50Ratio: median(pairs.map(([r, b]) => ratio(r.latency.p50Ms, b.latency.p50Ms))),
    p99Ratio: median(pairs.map(([r, b]) => ratio(r.latency.p99Ms, b.latency.p99Ms))),
  };
}

function summarizeOne(o: TargetOutcome): TargetSummary {
  const reps = o.repeats;
  const perCpu = median(reps.map(requestsPerCpuSecond));
  const cpuUs = median(reps.map(cpuUsPerRequest));
  const status = o.skipped !== null ? 'skipped' : reps.length === 0 ? 'failed' : 'ok';
  return {
    target: o.target,
    status,
    reason: o.skipped ?? (reps.length === 0 ? o.failures.join('; ') || 'no run completed' : null),
    note: o.note,
    load: o.load ?? 'wrk',
    hops: o.hops,
    requestsPerSecond: median(reps.map((r) => r.throughput.requestsPerSecond)),
    p50Ms: median(reps.map((r) => r.latency.p50Ms)),
    p99Ms: median(reps.map((r) => r.latency.p99Ms)),
    requestsPerCpuSecond: perCpu,
    cpuUsPerRequest: cpuUs,
    cpuUsPerRequestPerHop: cpuUs !== null && o.hops > 0 ? cpuUs / o.hops : null,
    rssIdleMb: o.rssIdleBytes === null ? null : o.rssIdleBytes / mb,
    rssLoadMb: toMb(median(reps.map((r) => r.rssPeakBytes))),
    ratioToNginx: null,
    addedP50PerHopMs: null,
    errors: reps.reduce((sum, r) => sum + r.throughput.errors + r.latency.errors, 0),
    baseline: null,
    repeats: reps,
    failures: o.failures,
  };
}

function toMb(bytes: number | null): number | null {
  return bytes === null ? null : bytes / mb;
}
