import type { BenchReport } from './bench-report.js';
import { baselineSection, busyNote, h2Section, newConnectionsSection, reportHeader, reportNotes, reportRow, wrkTargets } from './bench-report-rows.js';

/** Aligned columns; a row shorter than the header (skipped, failed) prints its first two cells. */
function aligned(header: string[], rows: string[][]): string[] {
  const full = rows.filter((r) => r.length === header.length);
  const widths = header.map((h, i) => Math.max(h.length, ...full.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(r.length === header.length ? line(r) : `${r[0].padEnd(widths[0])}  ${r[1]}`);
  return out;
}

/** Plain-text table with aligned columns for the terminal. */
export function renderTable(report: BenchReport): string {
  const http1 = wrkTargets(report.targets);
  const out = http1.length === 0 ? [] : aligned(reportHeader(report.options), http1.map(reportRow));
  for (const section of [baselineSection(report.targets), h2Section(report), newConnectionsSection(report)]) {
    if (section === null) continue;
    out.push('', `${section.title}:`);
    if (section.rows.length > 0) out.push(...aligned(section.header, section.rows));
    out.push(...section.notes.map((n) => `* ${n}`));
  }
  const notes = reportNotes(report.targets);
  if (report.upstream.note !== null) notes.unshift(`upstream: ${report.upstream.note}`);
  if (report.pinning.note !== null) notes.unshift(`pinning: ${report.pinning.note}`);
  const busy = busyNote(report);
  if (busy !== null) notes.unshift(busy);
  if (notes.length > 0) out.push('', ...notes.map((n) => `* ${n}`));
  return out.join('\n');
}
