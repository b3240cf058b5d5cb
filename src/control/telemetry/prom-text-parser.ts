// A strict reader of the Prometheus text exposition format (0.0.4): the sidecars' /metrics.
// Strict because the control plane trusts what it computes from it: a malformed line rejects the
// whole scrape (an error value, never an exception) rather than yielding half a picture.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export type PromParseResult = { ok: true; samples: PromSample[]; types: Map<string, string> } | { ok: false; error: string };

const metricNameStart = /[a-zA-Z_:]/;
const metricNameChar = /[a-zA-Z0-9_:]/;
const labelNameStart = /[a-zA-Z_]/;
const labelNameChar = /[a-zA-Z0-9_]/;
const metricTypes = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePromText(text: string): PromParseResult {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (m) {
        if (!metricTypes.has(m[2])) return { ok: false, error: `line ${i + 1}: unknown metric type "${m[2]}"` };
        types.set(m[1], m[2]);
      }
      // HELP and free comments carry nothing the control plane uses
      continue;
    }
    const parsed = parseSampleLine(line);
    if (typeof parsed === 'string') return { ok: false, error: `line ${i + 1}: ${parsed}` };
    samples.push(parsed);
  }
  return { ok: true, samples, types };
}

/** Returns the sample or a description of what is wrong. */
function parseSampleLine(line: string): PromSample | string {
  let pos = 0;
  const skipSpaces = () => {
    while (pos < line.length && (line[pos] === ' ' || line[pos] === '\t')) pos++;
  };
  skipSpaces();
  const nameStart = pos;
  if (!metricNameStart.test(line[pos] ?? '')) return 'expected a metric name';
  while (pos < line.length && metricNameChar.test(line[pos])) pos++;
  const name = line.slice(nameStart, pos);
  const labels: Record<string, string> = {};
  let afterName = pos;
  while (line[afterName] === ' ' || line[afterName] === '\t') afterName++;
  if (line[afterName] === '{') {
    pos = afterName;
    pos++;
    for (;;) {
      skipSpaces();
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const ls = pos;
      if (!labelNameStart.test(line[pos] ?? '')) return `expected a label name in ${name}`;
      while (pos < line.length && labelNameChar.test(line[pos])) pos++;
      const labelName = line.slice(ls, pos);
      skipSpaces();
      if (line[pos] !== '=') return `expected "=" after label ${labelName}`;
      pos++;
      skipSpaces();
      if (line[pos] !== '"') return `expected a quoted value for label ${labelName}`;
      pos++;
      let value = '';
      for (;;) {
        if (pos >= line.length) return `unterminated value of label ${labelName}`;
        const c = line[pos++];
        if (c === '"') break;
        if (c !== '\\') {
          value += c;
          continue;
        }
        const e = line[pos++];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else return `invalid escape "\\${e ?? ''}" in label ${labelName}`;
      }
      if (Object.prototype.hasOwnProperty.call(labels, labelName)) return `label ${labelName} repeated`;
      labels[labelName] = value;
      skipSpaces();
      if (line[pos] === ',') {
        pos++;
        continue;
      }
      if (line[pos] === '}') {
        pos++;
        break;
      }
      return `expected "," or "}" after label ${labelName}`;
    }
  }
  if (line[pos] !== ' ' && line[pos] !== '\t') return `expected a space before the value of ${name}`;
  const rest = line.slice(pos).trim().split(/[ \t]+/);
  if (rest.length > 2 || rest[0] === '') return `expected a value and an optional timestamp after ${name}`;
  const value = parseValue(rest[0]);
  if (value === undefined) return `invalid value "${rest[0]}" of ${name}`;
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) return `invalid timestamp "${rest[1]}" of ${name}`;
  return { name, labels, value };
}

function parseValue(s: string): number | undefined {
  // as Prometheus' own parser (Go's ParseFloat): case-insensitive, so prom-client's "Nan" passes
  const special = s.toLowerCase();
  if (special === '+inf' || special === 'inf' || special === '+infinity' || special === 'infinity') return Infinity;
  if (special === '-inf' || special === '-infinity') return -Infinity;
  if (special === 'nan') return NaN;
  // Number() accepts "", "0x10" and "Infinity"; the format does not
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}
