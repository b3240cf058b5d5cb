import type { NewConnectionMeasured, NewConnectionSetup } from './bench-new-connections.js';
import { median } from './bench-stats.js';

/** One kind of new connection (plain TCP connect or full mTLS handshake): medians over the repeats. */
export interface NewConnectionSummary {
  readonly mode: 'tcp' | 'tls';
  readonly status: 'ok' | 'failed';
  readonly reason: string | null;
  readonly perSecond: number | null;
  /** Time from connect() to completion, as the client saw it. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** The listener's sidecar: CPU per connection, and its busy share of one CPU over the run. */
  readonly sidecarCpuUsPerConnection: number | null;
  /** Connections per second of sidecar CPU: what one core could take, whatever else ran on the machine. */
  readonly perSidecarCpuSecond: number | null;
  readonly sidecarCpuShare: number | null;
  /** The client's busy share of one CPU: near 1 means the client, not the sidecar, set the rate. */
  readonly clientCpuShare: number | null;
  /** Failed connections summed over the runs, and their first kinds. */
  readonly errors: number;
  readonly errorKinds: readonly string[];
  /** Resumed handshakes (none is offered, so anything but 0 means the figure is not of full handshakes). */
  readonly resumed: number;
  readonly runs: readonly NewConnectionMeasured[];
  readonly failures: readonly string[];
}

export interface NewConnectionsReport {
  /** The inbound listener measured, and the identities on both ends. */
  readonly listener: string;
  readonly serverIdentity: string;
  readonly alpn: readonly string[];
  readonly seconds: number;
  readonly concurrency: number;
  readonly rows: readonly NewConnectionSummary[];
  /** Full mTLS handshakes per second ÷ TCP connects per second (medians of per-repeat ratios). */
  readonly tlsToTcpRatio: number | null;
}

export function summarizeNewConnections(
  setup: NewConnectionSetup, seconds: number, concurrency: number,
  runs: ReadonlyMap<'tcp' | 'tls', readonly NewConnectionMeasured[]>, failures: ReadonlyMap<'tcp' | 'tls', readonly string[]>,
): NewConnectionsReport {
  const rows = (['tcp', 'tls'] as const).map((mode) => summarizeMode(mode, runs.get(mode) ?? [], failures.get(mode) ?? []));
  const tcp = runs.get('tcp') ?? [];
  const ratios = (runs.get('tls') ?? []).map((t) => {
    const c = tcp.find((r) => r.repeat === t.repeat);
    return c === undefined || c.completed === 0 ? null : (t.completed / t.seconds) / (c.completed / c.seconds);
  });
  return {
    listener: `${setup.host}:${setup.port}`, serverIdentity: setup.expectId, alpn: setup.alpn, seconds, concurrency, rows,
    tlsToTcpRatio: median(ratios),
  };
}

function summarizeMode(mode: 'tcp' | 'tls', runs: readonly NewConnectionMeasured[], failures: readonly string[]): NewConnectionSummary {
  const kinds = new Set(runs.flatMap((r) => r.errorKinds));
  return {
    mode,
    status: runs.length > 0 ? 'ok' : 'failed',
    reason: runs.length > 0 ? null : failures.join('; ') || 'no run completed',
    perSecond: median(runs.map((r) => r.completed / r.seconds)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    sidecarCpuUsPerConnection: median(runs.map((r) => (r.completed > 0 ? (r.sidecarCpuSeconds * 1e6) / r.completed : null))),
    perSidecarCpuSecond: median(runs.map((r) => (r.sidecarCpuSeconds > 0 ? r.completed / r.sidecarCpuSeconds : null))),
    sidecarCpuShare: median(runs.map((r) => r.sidecarCpuSeconds / r.seconds)),
    clientCpuShare: median(runs.map((r) => r.clientCpuSeconds / r.seconds)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    errorKinds: [...kinds].slice(0, 5),
    resumed: runs.reduce((sum, r) => sum + r.resumed, 0),
    runs,
    failures,
  };
}
