import { upstreamBodyBytes } from './bench-addresses.js';
import type { BenchReport } from './bench-report.js';
import { baselineSection, busyNote, h2Section, newConnectionsSection, reportHeader, reportNotes, reportRow, wrkTargets, type ReportSection } from './bench-report-rows.js';

/** The Markdown report: how it was measured, the table, and the notes. */
export function renderMarkdown(report: BenchReport): string {
  const o = report.options;
  const e = report.environment;
  const header = reportHeader(o);
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = wrkTargets(report.targets).map((t) => {
    const r = reportRow(t);
    return r.length === header.length ? r : [r[0], r[1], ...header.slice(2).map(() => '')];
  });
  const lines = [`# Trellis bench, ${report.startedAt}`, ''];
  if (rows.length > 0) {
    lines.push(
      `HTTP/1.1 keep-alive through each proxy to an ${report.upstream.kind === 'nginx' ? 'nginx `return 200`' : 'Node'} upstream (${upstreamBodyBytes}-byte body). ` +
        `Proxy on CPU ${report.pinning.proxyCpus ?? 'any'}, wrk and upstream on CPU ${report.pinning.loadCpus ?? 'any'}. ` +
        `Throughput: wrk -t1 -c${o.connections} -d${o.duration}s; latency: -c${o.latencyConnections} -d${o.latencyDuration}s --latency; ` +
        `${o.warmup}s warm-up before each run; medians of ${o.repeats} interleaved repeat(s).`,
      'CPU is utime+stime of all the proxy\'s processes (from /proc) over the throughput run; RSS idle is before any load, under load the peak sampled every 200 ms (median over repeats).',
      '',
      `| ${header.map(cell).join(' | ')} |`,
      `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
      ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    );
  } else {
    lines.push(`Proxies on CPU ${report.pinning.proxyCpus ?? 'any'}, load and upstreams on CPU ${report.pinning.loadCpus ?? 'any'}; medians of ${o.repeats} interleaved repeat(s).`);
  }
  const notes = reportNotes(report.targets);
  if (report.upstream.note !== null) notes.unshift(`upstream: ${report.upstream.note}`);
  if (report.pinning.note !== null) notes.unshift(`pinning: ${report.pinning.note}`);
  const busy = busyNote(report);
  if (busy !== null) notes.unshift(busy);
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${cell(n)}`));
  for (const section of [baselineSection(report.targets), h2Section(report), newConnectionsSection(report)]) {
    if (section !== null) lines.push('', ...sectionLines(section, cell));
  }
  lines.push('', `Machine: ${e.cpuModel} × ${e.cpuCount}, Linux ${e.kernel}, Node ${e.node}; ${e.tools.join('; ')}; commit ${e.commit}.`, '');
  return lines.join('\n');
}

function sectionLines(s: ReportSection, cell: (text: string) => string): string[] {
  const lines = [`## ${s.title}`, ''];
  if (s.rows.length > 0) {
    lines.push(
      `| ${s.header.map(cell).join(' | ')} |`,
      `|${s.header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
      ...s.rows.map((r) => `| ${(r.length === s.header.length ? r : [r[0], r[1], ...s.header.slice(2).map(() => '')]).map(cell).join(' | ')} |`),
      '',
    );
  }
  lines.push(...s.notes.map((n) => `- ${cell(n)}`));
  return lines;
}
