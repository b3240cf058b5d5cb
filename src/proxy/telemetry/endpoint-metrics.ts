// Per-endpoint balancing and outlier-detection metrics. The gauges are read from the clusters'
// hosts when Prometheus scrapes (in-flight, ejected, decayed EWMA cost), so the request path
// writes nothing for them; only the rare ejection bumps a counter.
import type { Cluster } from '../cluster/cluster.js';
import type { EjectionReason } from '../cluster/outlier/outlier-detector.js';
import { CounterFamily, ScrapeFamily } from './metric-families.js';
import type { MetricRegistry } from './metric-registry.js';

export type ClusterSource = () => Iterable<Cluster>;

export class EndpointMetrics {
  readonly ejections = new CounterFamily(
    'trellis_endpoint_ejections_total', 'Endpoints ejected by outlier detection, by why.', ['cluster', 'reason'],
  );
  private readonly sources = new Set<ClusterSource>();

  constructor(registry: MetricRegistry) {
    // Computed at scrape time from the current clusters' hosts; an endpoint without a value is left out.
    const gauge = (name: string, help: string, value: (c: Cluster, h: Cluster['hosts'][number]) => number | null) =>
      new ScrapeFamily(name, help, 'gauge', ['cluster', 'endpoint'], (emit) => {
        for (const source of this.sources) {
          for (const c of source()) {
            for (const h of c.hosts) {
              const v = value(c, h);
              if (v !== null) emit(v, c.name, h.key);
            }
          }
        }
      });
    registry.registerMetric(this.ejections);
    registry.registerMetric(gauge('trellis_endpoint_ejected', 'Whether outlier detection has the endpoint ejected now (1) or not (0).',
      (_c, h) => (h.outlier === 'active' ? 0 : 1)));
    registry.registerMetric(gauge('trellis_endpoint_ewma_seconds', 'The balancer\'s decayed peak-EWMA round-trip estimate of the endpoint.',
      (c, h) => {
        const ms = c.ewmaMs(h);
        return ms === null ? null : ms / 1000;
      }));
    registry.registerMetric(gauge('trellis_endpoint_in_flight', 'Attempts on the endpoint started and not ended yet.', (_c, h) => h.inFlight));
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

const byRegistry = new WeakMap<MetricRegistry, EndpointMetrics>();

/** One EndpointMetrics per registry, so several cluster managers may share a registry. */
export function endpointMetricsFor(registry: MetricRegistry): EndpointMetrics {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = new EndpointMetrics(registry);
    byRegistry.set(registry, m);
  }
  return m;
}
