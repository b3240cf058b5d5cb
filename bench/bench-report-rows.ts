import { h2LatencySeconds, targetNames, type BenchOptions } from './bench-options.js';
import type { BenchReport } from './bench-report.js';
import type { TargetSummary } from './bench-summary.js';

/** Column headers and formatted cells shared by the terminal table and the Markdown file. */
export function reportHeader(options: BenchOptions): string[] {
  const c = options.connections;
  const l = options.latencyConnections;
  return [
    'target', `req/s (c${c})`, `p50 ms (c${l})`, `p99 ms (c${l})`, 'req/CPU-s', 'CPU µs/req',
    '÷ nginx', 'RSS idle/load MB', `+p50/hop ms (c${l})`, 'errors',
  ];
}

export function reportRow(s: TargetSummary): string[] {
  if (s.status !== 'ok') return [s.target, `${s.status}: ${s.reason ?? ''}`];
  const cpuUs = s.cpuUsPerRequest === null ? '–'
    : s.hops > 1 ? `${fixed(s.cpuUsPerRequest, 1)} (${fixed(s.cpuUsPerRequestPerHop, 1)}/hop)` : fixed(s.cpuUsPerRequest, 1);
  return [
    s.target,
    fixed(s.requestsPerSecond, 0),
    fixed(s.p50Ms, 3),
    fixed(s.p99Ms, 3),
    fixed(s.requestsPerCpuSecond, 0),
    cpuUs,
    fixed(s.ratioToNginx, 2),
    s.rssIdleMb === null ? '–' : `${fixed(s.rssIdleMb, 1)} / ${fixed(s.rssLoadMb, 1)}`,
    s.addedP50PerHopMs === null ? '–' : signed(s.addedP50PerHopMs, 3),
    String(s.errors),
  ];
}

/** A table under the main one: a title line, then header and rows. */
export interface ReportSection {
  readonly title: string;
  readonly header: string[];
  readonly rows: string[][];
  readonly notes: string[];
}

/** The rows of the main table: the HTTP/1.1 targets (wrk); HTTP/2 ones have their own section. */
export function wrkTargets(targets: readonly TargetSummary[]): TargetSummary[] {
  return targets.filter((t) => t.load === 'wrk');
}

/** Variants against their baseline in the same run (mTLS and telemetry against the plaintext mesh). */
export function baselineSection(targets: readonly TargetSummary[]): ReportSection | null {
  const rows = wrkTargets(targets).filter((t) => t.baseline !== null).map((t) => {
    const b = t.baseline!;
    return [t.target, b.target, fixed(b.requestsPerSecondRatio, 2), fixed(b.cpuPerRequestRatio, 2),
      b.p50DeltaMs === null ? '–' : signed(b.p50DeltaMs, 3), b.p99DeltaMs === null ? '–' : signed(b.p99DeltaMs, 3)];
  });
  if (rows.length === 0) return null;
  return {
    title: 'Against the baseline in the same run (ratios: medians of per-repeat ratios)',
    header: ['target', 'baseline', 'req/s ratio', 'CPU µs/req ratio', 'p50 Δ ms', 'p99 Δ ms'],
    rows,
    notes: [],
  };
}

/** HTTP/2 and gRPC targets (h2load), each mesh path against its direct one of the same protocol. */
export function h2Section(report: BenchReport): ReportSection | null {
  // Each mesh path right after its direct one, whatever order they started in.
  const targets = report.targets.filter((t) => t.load === 'h2load').sort((a, b) => targetNames.indexOf(a.target) - targetNames.indexOf(b.target));
  if (targets.length === 0) return null;
  const o = report.options;
  const c = `c${o.h2Connections}×m${o.h2Streams}`;
  const l = `c${o.latencyConnections}×m1`;
  const header = ['target', `req/s (${c})`, `p50 ms (${l})`, `p99 ms (${l})`, 'CPU µs/req', 'RSS idle/load MB',
    'req/s ÷ direct', 'p50 ÷ direct', 'p99 ÷ direct', `+p50/hop ms (${l})`, 'errors'];
  const rows = targets.map((s) => {
    if (s.status !== 'ok') return [s.target, `${s.status}: ${s.reason ?? ''}`];
    const b = s.baseline;
    const cpuUs = s.cpuUsPerRequest === null ? '–'
      : s.hops > 1 ? `${fixed(s.cpuUsPerRequest, 1)} (${fixed(s.cpuUsPerRequestPerHop, 1)}/hop)` : fixed(s.cpuUsPerRequest, 1);
    return [
      s.target, fixed(s.requestsPerSecond, 0), fixed(s.p50Ms, 3), fixed(s.p99Ms, 3), cpuUs,
      s.rssIdleMb === null ? '–' : `${fixed(s.rssIdleMb, 1)} / ${fixed(s.rssLoadMb, 1)}`,
      fixed(b?.requestsPerSecondRatio ?? null, 2), fixed(b?.p50Ratio ?? null, 2), fixed(b?.p99Ratio ?? null, 2),
      s.addedP50PerHopMs === null ? '–' : signed(s.addedP50PerHopMs, 3), String(s.errors),
    ];
  });
  return {
    title: 'HTTP/2 and gRPC (h2load, h2c with prior knowledge)',
    header,
    rows,
    notes: [
      `h2load -t1, throughput: -c${o.h2Connections} -m${o.h2Streams} -D ${o.h2Duration} (sidecar CPU from /proc over it); ` +
        `latency: -c${o.latencyConnections} -m1 -D ${h2LatencySeconds(o)}, p50/p99 from h2load's per-request log; ${o.warmup}s warm-up run before each.`,
      '÷ direct: the mesh path against the direct path of the same protocol, medians of the per-repeat ratios in this run.',
      'errors: h2load\'s failed (non-2xx/3xx and errored streams) and timed-out requests, and answers without their full body ' +
        '(a gRPC error travels as HTTP 200 with no message, so a missing body is how a failed call shows).',
    ],
  };
}

const modeLabel = { tcp: 'TCP connect', tls: 'mTLS handshake (full)' } as const;

/** New connections per second to the mTLS sidecar's inbound listener. */
export function newConnectionsSection(report: BenchReport): ReportSection | null {
  const n = report.newConnections;
  if (n === null) return null;
  const title = 'New connections to the mTLS sidecar\'s inbound listener';
  const header = ['connection', 'conn/s', 'p50 ms', 'p99 ms', 'sidecar CPU µs/conn', 'conn/sidecar CPU-s', 'sidecar CPU %', 'client CPU %', 'errors'];
  if ('skipped' in n) return { title, header, rows: [], notes: [`skipped: ${n.skipped}`] };
  const pct = (share: number | null): string => (share === null ? '–' : (share * 100).toFixed(0));
  const rows = n.rows.map((r) => (r.status !== 'ok'
    ? [modeLabel[r.mode], `failed: ${r.reason ?? ''}`]
    : [modeLabel[r.mode], fixed(r.perSecond, 0), fixed(r.p50Ms, 3), fixed(r.p99Ms, 3), fixed(r.sidecarCpuUsPerConnection, 1),
      fixed(r.perSidecarCpuSecond, 0), pct(r.sidecarCpuShare), pct(r.clientCpuShare), String(r.errors)]));
  const notes = [
    `${n.listener} (${n.serverIdentity}), ${n.concurrency} connections in parallel, ${n.seconds}s per run, client pinned with the load. ` +
      'TCP: connect, then close. mTLS: TLS 1.3 full handshake with a mesh certificate from the control plane\'s CA, ' +
      `ALPN ${n.alpn.join(',')}, the server's chain and SPIFFE id verified, counted once the server's session ticket arrived ` +
      '(sent only after it verified the client certificate); no session offered, so none resumes.',
  ];
  notes.push('conn/sidecar CPU-s: connections per second of the sidecar\'s CPU time, what one core could take; ' +
    'when neither the sidecar nor the client is near 100 % busy, other work on the machine set conn/s');
  if (n.tlsToTcpRatio !== null) notes.push(`mTLS handshakes ÷ TCP connects: ${n.tlsToTcpRatio.toFixed(3)}`);
  for (const r of n.rows) {
    if (r.errors > 0) notes.push(`${modeLabel[r.mode]}: ${r.errors} failed connections (${r.errorKinds.join('; ')})`);
    if (r.resumed > 0) notes.push(`${modeLabel[r.mode]}: ${r.resumed} handshakes resumed a session; the figure is not of full handshakes`);
    if (r.status === 'ok' && r.failures.length > 0) notes.push(`${modeLabel[r.mode]}: ${r.failures.length} run(s) failed: ${r.failures.join('; ')}`);
  }
  return { title, header, rows, notes };
}

function fixed(value: number | null, digits: number): string {
  return value === null ? '–' : value.toFixed(digits);
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

/** Footnotes both renderings print under the table. */
export function reportNotes(targets: readonly TargetSummary[]): string[] {
  const notes = targets.filter((t) => t.note !== null).map((t) => `${t.target}: ${t.note}`);
  for (const t of targets) if (t.status === 'ok' && t.failures.length > 0) notes.push(`${t.target}: ${t.failures.length} run(s) failed: ${t.failures.join('; ')}`);
  for (const t of targets) {
    if (t.errors === 0) continue;
    const where = t.repeats.flatMap((r) => [[r, 'throughput', r.throughput], [r, 'latency', r.latency]] as const)
      .filter(([, , w]) => w.errors > 0).map(([r, run, w]) => `repeat ${r.repeat} ${run}: ${w.errorKinds}`);
    notes.push(`${t.target}: ${t.errors} non-2xx responses or socket errors (${where.join('; ')}); its figures are suspect`);
  }
  return notes;
}

/** A warning when other work kept the machine busy (load above half its CPUs, bench excluded at start). */
export function busyNote(report: BenchReport): string | null {
  const { start, end } = report.loadAverage;
  if (start <= report.environment.cpuCount / 2) return null;
  return `machine busy: 1-minute load average ${start.toFixed(1)} before the run (${end.toFixed(1)} after) on ${report.environment.cpuCount} CPUs; figures are noisier than usual`;
}
