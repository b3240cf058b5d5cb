import type { BenchOptions } from './bench-options.js';
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
