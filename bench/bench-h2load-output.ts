// What the bench reads from h2load: its text summary (counts, rate, DATA bytes) and, for the
// percentiles h2load does not print, its per-request log (`--log-file`: start µs, status, µs).
import type { WrkResult } from './bench-wrk-output.js';

/** A run's figures in the shape of a wrk run's, plus h2load's own counts. */
export interface H2loadResult extends WrkResult {
  /** Requests sent; 0 means h2load never got a connection. */
  readonly started: number;
  /** Streams that ended (answered or failed). */
  readonly done: number;
  /** Answered with a 2xx or 3xx status. */
  readonly succeeded: number;
  /** Not answered with 2xx/3xx: other statuses and the errored streams (reset, connection lost). */
  readonly failed: number;
  readonly errored: number;
  readonly timedOut: number;
  /** Bytes of DATA frame payload received (the response bodies). */
  readonly dataBytes: number;
}

/** The counters of h2load's summary; percentiles come from its log. */
export type H2loadSummary = Omit<H2loadResult, 'p50Ms' | 'p99Ms' | 'errors' | 'errorKinds'>;

const timeUnitsMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses h2load 1.x's summary; an Error quotes the end of the output (h2load's own complaint). */
export function parseH2loadSummary(text: string): H2loadSummary | Error {
  const finished = /^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req\/s/m.exec(text);
  const requests = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  const traffic = /^traffic: .*\((\d+)\) data\s*$/m.exec(text);
  if (finished === null || requests === null || traffic === null) {
    return new Error(`unexpected h2load output: ${text.trim().split('\n').slice(-3).join(' | ') || '(empty)'}`);
  }
  return {
    requests: Number(requests[3]),
    seconds: Number(finished[1]) * timeUnitsMs[finished[2]] / 1000,
    requestsPerSecond: Number(finished[3]),
    started: Number(requests[2]),
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    timedOut: Number(requests[7]),
    dataBytes: Number(traffic[1]),
  };
}

/**
 * p50 and p99 (nearest rank, ms) of the answered requests in an h2load log; failed streams
 * (status -1) have no latency. An Error for a line that is not h2load's.
 */
export function h2loadLogPercentiles(log: string): { p50Ms: number | null; p99Ms: number | null } | Error {
  const micros: number[] = [];
  const lines = log.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const fields = line.split('\t');
    const status = Number(fields[1]);
    const us = Number(fields[2]);
    if (fields.length < 3 || !Number.isInteger(status) || !Number.isFinite(us)) return new Error(`h2load log line ${i + 1} is not "start<TAB>status<TAB>µs": ${line.slice(0, 80)}`);
    if (status >= 0) micros.push(us);
  }
  if (micros.length === 0) return { p50Ms: null, p99Ms: null };
  micros.sort((a, b) => a - b);
  const rank = (p: number): number => micros[Math.max(0, Math.ceil(p / 100 * micros.length) - 1)] / 1000;
  return { p50Ms: rank(50), p99Ms: rank(99) };
}

/**
 * The errors of a run: h2load's failed (non-2xx/3xx and errored streams) and timed-out
 * requests, and answered requests whose body was missing or short (an HTTP/2 200 can still
 * carry a gRPC error with no message): fewer DATA bytes than `expectBodyBytes` per success.
 */
export function h2loadErrors(s: H2loadSummary, expectBodyBytes: number): { errors: number; errorKinds: string } {
  const shortBodies = expectBodyBytes > 0 ? Math.max(0, s.succeeded - Math.floor(s.dataBytes / expectBodyBytes)) : 0;
  const nonErrored = s.failed - s.errored;
  const counts: [string, number][] = [['non-2xx', nonErrored], ['errored', s.errored], ['timeout', s.timedOut], ['short body', shortBodies]];
  return {
    errors: counts.reduce((sum, [, n]) => sum + n, 0),
    errorKinds: counts.filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`).join(', '),
  };
}
