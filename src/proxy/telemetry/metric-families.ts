// Metric families whose label sets are bound once: the data path holds a cell and bumps plain
// numbers in it, with no label hashing or validation per request (prom-client's
// counter.labels() re-hashes on every inc). A MetricRegistry reads them at scrape time.
import type { MetricFamily } from './metric-registry.js';
import { formatSampleValue, type Labels, type MetricSample, type MetricType } from './prom-exposition.js';

abstract class Family<Cell> implements MetricFamily {
  protected readonly cells = new Map<string, { labels: Labels; cell: Cell }>();
  abstract readonly type: MetricType;

  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  /** Returns the cell of a label tuple, creating it on first use. Call once, then keep the cell. */
  cell(...values: string[]): Cell {
    const key = values.join('\u0000');
    let entry = this.cells.get(key);
    if (!entry) {
      if (values.length !== this.labelNames.length) {
        throw new Error(`label values of ${this.name}: ${values.length} given for ${this.labelNames.length} labels (${this.labelNames.join(', ')})`);
      }
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]));
      entry = { labels, cell: this.newCell() };
      this.cells.set(key, entry);
    }
    return entry.cell;
  }

  protected abstract newCell(): Cell;
  abstract collect(): MetricSample[];

  reset(): void {
    this.cells.clear();
  }
}

export class CounterCell {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class CounterFamily extends Family<CounterCell> {
  readonly type = 'counter';
  protected newCell(): CounterCell {
    return new CounterCell();
  }
  collect(): MetricSample[] {
    const samples: MetricSample[] = [];
    for (const { labels, cell } of this.cells.values()) samples.push({ labels, value: cell.value });
    return samples;
  }
}

export class GaugeCell {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class GaugeFamily extends Family<GaugeCell> {
  readonly type = 'gauge';
  protected newCell(): GaugeCell {
    return new GaugeCell();
  }
  collect(): MetricSample[] {
    const samples: MetricSample[] = [];
    for (const { labels, cell } of this.cells.values()) samples.push({ labels, value: cell.value });
    return samples;
  }
}

export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    // Most requests land in the low buckets; a forward scan beats a binary search there.
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

export class HistogramFamily extends Family<HistogramCell> {
  readonly type = 'histogram';
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[]) {
    super(name, help, labelNames);
    buckets.forEach((b, i) => {
      if (!Number.isFinite(b) || (i > 0 && b <= buckets[i - 1])) {
        throw new Error(`buckets of ${name}: must be finite and increasing (+Inf is implied), got [${buckets.join(', ')}]`);
      }
    });
  }
  protected newCell(): HistogramCell {
    return new HistogramCell(this.buckets);
  }
  collect(): MetricSample[] {
    const samples: MetricSample[] = [];
    const bucketName = `${this.name}_bucket`;
    const les = this.buckets.map(formatSampleValue);
    for (const { labels, cell } of this.cells.values()) {
      // Cumulative: each bucket counts every observation at or below its bound.
      let acc = 0;
      for (let i = 0; i < les.length; i++) {
        acc += cell.counts[i];
        samples.push({ labels: { ...labels, le: les[i] }, value: acc, metricName: bucketName });
      }
      samples.push({ labels: { ...labels, le: '+Inf' }, value: cell.count, metricName: bucketName });
      samples.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
      samples.push({ labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return samples;
  }
}

/** Called by a ScrapeFamily's reader once per sample: the value, then the label values in order. */
export type EmitSample = (value: number, ...labelValues: string[]) => void;

/**
 * A counter or gauge whose samples are read from elsewhere when Prometheus scrapes (live sockets,
 * the xDS client's counters, the process), so nothing is written for it in between.
 */
export class ScrapeFamily implements MetricFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    readonly labelNames: readonly string[],
    private readonly read: (emit: EmitSample) => void,
  ) {}

  collect(): MetricSample[] {
    const samples: MetricSample[] = [];
    this.read((value, ...labelValues) => {
      if (labelValues.length !== this.labelNames.length) {
        throw new Error(`label values of ${this.name}: ${labelValues.length} given for ${this.labelNames.length} labels (${this.labelNames.join(', ')})`);
      }
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = labelValues[i]));
      samples.push({ labels, value });
    });
    return samples;
  }
}
