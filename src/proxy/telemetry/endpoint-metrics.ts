// Per-endpoint balancing and outlier-detection metrics. The gauges are read from the clusters'
// hosts when Prometheus scrapes (in-flight, ejected, decayed EWMA cost), so the request path
// writes nothing for them; only the rare ejection bumps a counter.
import type { Registry } from 'prom-client';
import type { Cluster } from '../cluster/cluster.js';
import type { EjectionReason } from '../cluster/outlier/outlier-detector.js';
import { CounterFamily } from './metric-families.js';

type Labels = Record<string, string>;

interface MetricValue {
  labels: Labels;
  value: number;
}

export type ClusterSource = () => Iterable<Cluster>;

/** A gauge whose values are computed at scrape time from the current clusters. */
class ScrapeGauge {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly labelNames = ['cluster', 'endpoint'] as const;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly sources: Set<ClusterSource>,
    private readonly value: (c: Cluster, h: Cluster['hosts'][number]) => number | null,
  ) {}

  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    for (const source of this.sources) {
      for (const c of source()) {
        for (const h of c.hosts) {
          const v = this.value(c, h);
          if (v !== null) values.push({ labels: { cluster: c.name, endpoint: h.key }, value: v });
        }
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {}
}

export class EndpointMetrics {
  readonly ejections = new CounterFamily(
    'trellis_endpoint_ejections_total', 'Endpoints ejected by outlier detection, by why.', ['cluster', 'reason'],
  );
  private readonly sources = new Set<ClusterSource>();

  constructor(registry: Registry) {
    const gauges = [
      new ScrapeGauge('trellis_endpoint_ejected', 'Whether outlier detection has the endpoint ejected now (1) or not (0).',
        this.sources, (_c, h) => (h.outlier === 'active' ? 0 : 1)),
      new ScrapeGauge('trellis_endpoint_ewma_seconds', 'The balancer\'s decayed peak-EWMA round-trip estimate of the endpoint.',
        this.sources, (c, h) => {
          const ms = c.ewmaMs(h);
          return ms === null ? null : ms / 1000;
        }),
      new ScrapeGauge('trellis_endpoint_in_flight', 'Attempts on the endpoint started and not ended yet.',
        this.sources, (_c, h) => h.inFlight),
    ];
    registry.registerMetric(this.ejections as any);
    for (const g of gauges) registry.registerMetric(g as any);
  }

  addSource(source: ClusterSource): void {
    this.sources.add(source);
  }

  removeSource(source: ClusterSource): void {
    this.sources.delete(source);
  }

  /** The ejection counter of one cluster, bound once per cluster. */
  ejectedFor(cluster: string): (reason: EjectionReason) => void {
    const cells = {
      'consecutive-failures': this.ejections.cell(cluster, 'consecutive-failures'),
      'success-rate': this.ejections.cell(cluster, 'success-rate'),
      'probe-failure': this.ejections.cell(cluster, 'probe-failure'),
    };
    return (reason) => cells[reason].inc();
  }
}

const byRegistry = new WeakMap<Registry, EndpointMetrics>();

/** One EndpointMetrics per registry, so several cluster managers may share a registry. */
export function endpointMetricsFor(registry: Registry): EndpointMetrics {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = new EndpointMetrics(registry);
    byRegistry.set(registry, m);
  }
  return m;
}
