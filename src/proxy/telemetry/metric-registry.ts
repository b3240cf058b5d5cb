// The sidecar's metric registry: the families one proxy exposes on /metrics, in registration
// order. Written for the sidecar instead of taking prom-client's Registry, which (with
// @opentelemetry/api, which it requires) cost ~5 MB of the sidecar's RSS (docs/sidecar-memory.md)
// while the sidecar's families already kept their own cells.
import { formatExposition, promTextContentType, type MetricSample, type MetricType } from './prom-exposition.js';

/** What a registry needs of a family: its description, and its samples at scrape time. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  collect(): MetricSample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** The names a histogram family adds next to its own. */
const histogramSuffixes = ['_bucket', '_sum', '_count'];

export class MetricRegistry {
  private readonly families: MetricFamily[] = [];
  /** Every sample name in use (a histogram's three included), to refuse a family that would repeat one. */
  private readonly sampleNames = new Set<string>();

  readonly contentType = promTextContentType;

  /** Throws, naming the field, when the family is malformed or a name is taken. */
  registerMetric(family: MetricFamily): void {
    if (this.families.includes(family)) return;
    checkFamily(family);
    const names = family.type === 'histogram' ? histogramSuffixes.map((s) => family.name + s) : [family.name];
    for (const n of [family.name, ...names]) {
      if (this.sampleNames.has(n)) throw new Error(`metric name: "${n}" is already registered (family ${family.name})`);
    }
    for (const n of [family.name, ...names]) this.sampleNames.add(n);
    this.families.push(family);
  }

  /** The exposition text of every family, in registration order. */
  metrics(): string {
    return formatExposition(this.families.map((f) => ({ name: f.name, help: f.help, type: f.type, samples: f.collect() })));
  }
}

function checkFamily(f: MetricFamily): void {
  if (!metricName.test(f.name)) throw new Error(`metric name: "${f.name}" is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
  if (f.type !== 'counter' && f.type !== 'gauge' && f.type !== 'histogram') {
    throw new Error(`metric type of ${f.name}: "${String(f.type)}" is not counter, gauge or histogram`);
  }
  if (f.help.length === 0) throw new Error(`metric help of ${f.name}: must not be empty`);
  const seen = new Set<string>();
  for (const l of f.labelNames) {
    if (!labelName.test(l) || l.startsWith('__')) throw new Error(`label name of ${f.name}: "${l}" is not a Prometheus label name`);
    if (f.type === 'histogram' && l === 'le') throw new Error(`label name of ${f.name}: "le" is reserved for histogram buckets`);
    if (seen.has(l)) throw new Error(`label name of ${f.name}: "${l}" repeated`);
    seen.add(l);
  }
}
