/** What the bench reads from wrk's text report. */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency percentiles in ms; null unless wrk ran with --latency. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
  /** The same errors by kind, e.g. "timeout 50", or '' when there are none. */
  readonly errorKinds: string;
}

const timeUnitsMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses wrk 4's report; an Error names what is missing (e.g. wrk printed only an error). */
export function parseWrkOutput(text: string): WrkResult | Error {
  const summary = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (summary === null || rate === null) {
    return new Error(`unexpected wrk output: ${text.trim().split('\n').slice(-3).join(' | ') || '(empty)'}`);
  }
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(text);
  const socket = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(text);
  const counts: [string, number][] = [['non-2xx', non2xx === null ? 0 : Number(non2xx[1])]];
  if (socket !== null) counts.push(['connect', Number(socket[1])], ['read', Number(socket[2])], ['write', Number(socket[3])], ['timeout', Number(socket[4])]);
  const errors = counts.reduce((sum, [, n]) => sum + n, 0);
  const errorKinds = counts.filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`).join(', ');
  return {
    requests: Number(summary[1]),
    seconds: Number(summary[2]) * timeUnitsMs[summary[3]] / 1000,
    requestsPerSecond: Number(rate[1]),
    p50Ms: percentileMs(text, '50'),
    p99Ms: percentileMs(text, '99'),
    errors,
    errorKinds,
  };
}

function percentileMs(text: string, percent: string): number | null {
  const match = new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  return match === null ? null : Number(match[1]) * timeUnitsMs[match[2]];
}
