// Metric families whose label sets are bound once: the data path holds a cell and bumps plain
// numbers in it, with no label hashing or validation per request (prom-client's own
// counter.labels() re-hashes on every inc). They implement prom-client's metric shape, so they
// sit in a prom-client Registry next to its process metrics and share its text exposition.

type Labels = Record<string, string>;

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

abstract class Family<Cell> {
  protected readonly cells = new Map<string, { labels: Labels; cell: Cell }>();
  readonly aggregator = 'sum';
  abstract readonly type: string;

  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  /** Returns the cell of a label tuple, creating it on first use. Call once, then keep the cell. */
  cell(...values: string[]): Cell {
    const key = values.join('\u0000');
    let entry = this.cells.get(key);
    if (!entry) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      entry = { labels, cell: this.newCell() };
      this.cells.set(key, entry);
    }
    return entry.cell;
  }

  protected abstract newCell(): Cell;
  abstract get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }>;

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
  async get() {
    const values: MetricValue[] = [];
    for (const { labels, cell } of this.cells.values()) values.push({ labels, value: cell.value });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
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
  async get() {
    const values: MetricValue[] = [];
    for (const { labels, cell } of this.cells.values()) values.push({ labels, value: cell.value });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
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
  }
  protected newCell(): HistogramCell {
    return new HistogramCell(this.buckets);
  }
  async get() {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, cell } of this.cells.values()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += cell.counts[i];
        values.push({ labels: { ...labels, le: String(this.buckets[i]) }, value: acc, metricName: bucketName });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: cell.count, metricName: bucketName });
      values.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
