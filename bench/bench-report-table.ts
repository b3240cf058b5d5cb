import type { BenchReport } from './bench-report.js';
import { busyNote, reportHeader, reportNotes, reportRow } from './bench-report-rows.js';

/** Plain-text table with aligned columns for the terminal. */
export function renderTable(report: BenchReport): string {
  const header = reportHeader(report.options);
  const rows = report.targets.map(reportRow);
  const full = rows.filter((r) => r.length === header.length);
  const widths = header.map((h, i) => Math.max(h.length, ...full.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(r.length === header.length ? line(r) : `${r[0].padEnd(widths[0])}  ${r[1]}`);
  const notes = reportNotes(report.targets);
  if (report.upstream.note !== null) notes.unshift(`upstream: ${report.upstream.note}`);
  if (report.pinning.note !== null) notes.unshift(`pinning: ${report.pinning.note}`);
  const busy = busyNote(report);
  if (busy !== null) notes.unshift(busy);
  if (notes.length > 0) out.push('', ...notes.map((n) => `* ${n}`));
  return out.join('\n');
}
