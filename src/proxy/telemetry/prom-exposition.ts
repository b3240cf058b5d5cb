// The Prometheus text exposition format, version 0.0.4, as the sidecar's /metrics writes it:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
// One `# HELP` and one `# TYPE` line per family, then its samples; families apart by a blank line.

export const promTextContentType = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type Labels = Readonly<Record<string, string>>;

export interface MetricSample {
  labels: Labels;
  value: number;
  /** A histogram's `<name>_bucket`, `_sum` or `_count`; the family's name when absent. */
  metricName?: string;
}

export interface FamilySnapshot {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly MetricSample[];
}

/** HELP text: backslash and line feed escaped (quotes stay as they are there). */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** Go's ParseFloat spellings for the values JavaScript prints otherwise (`Infinity`, `NaN`). */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels): string {
  let out = '';
  for (const name in labels) out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(labels[name])}"`;
  return out === '' ? '' : `{${out}}`;
}

/** The lines of one family, without a trailing line feed. */
export function formatFamily(f: FamilySnapshot): string {
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}`;
  for (const s of f.samples) out += `\n${s.metricName ?? f.name}${formatLabels(s.labels)} ${formatSampleValue(s.value)}`;
  return out;
}

/** A whole exposition: the families in the order given, ending with a line feed. */
export function formatExposition(families: readonly FamilySnapshot[]): string {
  return families.length === 0 ? '' : `${families.map(formatFamily).join('\n\n')}\n`;
}
