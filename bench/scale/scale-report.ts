import type { ScaleResult } from './scale-run.js';

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/** The summary table (medians over the rounds) and the run's totals, for the terminal or a .md file. */
export function renderScaleTable(r: ScaleResult): string {
  const header = ['change', 'runs', 'all ACKed (median)', 'max', 'after the change was made', 'control CPU-s', 'pushed', 'responses', 'configs/sidecar (max)'];
  const rows = r.summary.map((s) => [s.kind, String(s.runs), `${s.medianMs} ms`, `${s.maxMs} ms`, `${s.medianAfterChangeMs} ms`, s.medianCpuSeconds.toFixed(2), kib(s.medianBytes), String(s.medianResponses), String(s.configsMax)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const t = r.topology;
  return [
    `${t.sidecars} sidecars, ${t.services} services, ${t.endpoints} endpoints (each sidecar an endpoint of ${t.servicesPerSidecar} services), egress ${t.egress} services per sidecar; `
      + `debounce ${r.options.debounceMs} ms / max ${r.options.debounceMaxMs} ms`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `control plane RSS: peak ${mb(r.controlRssPeakBytes)}, at the end ${mb(r.controlRssEndBytes)}; resources compiled over the run ${r.compiled} (cache ${r.cached}); apply of the ${t.services} Services ${r.applyMs} ms`,
    'all ACKed: from the change until the last sidecar had ACKed a config holding it; burst: from its first change, the sidecars must hold the last;',
    'after the change was made: the same, less the change itself (the apply request, or a sidecar connecting or leaving).',
  ].join('\n');
}
