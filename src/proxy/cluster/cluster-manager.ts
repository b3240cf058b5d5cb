// Clusters by name, updated in place from each new ProxyConfig so existing pools (and the
// requests on them) carry over; clusters that disappear are retired, not cut.
import type { ClusterConfig, EndpointConfig, ProxyConfig } from '../config/proxy-config.js';
import { Cluster, type ClusterOptions } from './cluster.js';
import type { ConnectionStats } from './pool/connection-pool.js';
import type { Registry } from 'prom-client';
import { endpointMetricsFor, type EndpointMetrics } from '../telemetry/endpoint-metrics.js';

export interface ClusterManagerOptions extends Omit<ClusterOptions, 'stats' | 'ejected'> {
  /** Connection counters per cluster name. */
  statsFor?: (cluster: string) => ConnectionStats;
  /** Where the per-endpoint metrics (ejections, in-flight, EWMA, ejected) are exposed. */
  registry?: Registry;
}

export interface EndpointView {
  cluster: string;
  address: string;
  port: number;
  zone: string;
  state: 'healthy' | 'ejected' | 'unhealthy';
  /** When an ejected endpoint's ejection ends (its probe may go then); null when not ejected. */
  ejectedUntil: string | null;
  inFlight: number;
  /** Decayed peak-EWMA RTT estimate; null before the first answer. */
  ewmaMs: number | null;
}

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private readonly retiring = new Set<Cluster>();
  private readonly endpointMetrics: EndpointMetrics | null;
  private readonly source = (): Iterable<Cluster> => this.clusters.values();

  constructor(private readonly opts: ClusterManagerOptions = {}) {
    this.endpointMetrics = opts.registry ? endpointMetricsFor(opts.registry) : null;
    this.endpointMetrics?.addSource(this.source);
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  update(config: ProxyConfig): void {
    const next = new Map<string, Cluster>();
    for (const [name, cc] of config.clusters) {
      let cluster = this.clusters.get(name);
      if (cluster) cluster.updateConfig(cc);
      else {
        cluster = new Cluster(cc, {
          ...this.opts, stats: this.opts.statsFor?.(name), ejected: this.endpointMetrics?.ejectedFor(name),
        });
      }
      cluster.updateEndpoints(endpointsOf(cc, config));
      next.set(name, cluster);
    }
    for (const [name, cluster] of this.clusters) {
      if (next.has(name)) continue;
      this.retiring.add(cluster);
      void cluster.retire().then(() => this.retiring.delete(cluster));
    }
    this.clusters = next;
  }

  /** Every endpoint with its live state, for the admin's GET /endpoints. */
  describeEndpoints(): EndpointView[] {
    const out: EndpointView[] = [];
    for (const c of this.clusters.values()) {
      for (const h of c.hosts) {
        const ewma = c.ewmaMs(h);
        out.push({
          cluster: c.name,
          address: h.endpoint.address,
          port: h.endpoint.port,
          zone: h.endpoint.zone,
          state: h.state,
          ejectedUntil: c.ejectedUntil(h)?.toISOString() ?? null,
          inFlight: h.inFlight,
          ewmaMs: ewma === null ? null : Math.round(ewma * 1000) / 1000,
        });
      }
    }
    return out;
  }

  closeIdle(): void {
    for (const c of this.clusters.values()) c.closeIdle();
  }

  destroy(): void {
    this.endpointMetrics?.removeSource(this.source);
    for (const c of this.clusters.values()) c.destroy();
    for (const c of this.retiring) c.destroy();
    this.retiring.clear();
    this.clusters = new Map();
  }
}

export function endpointsOf(cc: ClusterConfig, config: ProxyConfig): EndpointConfig[] {
  if (cc.staticEndpoints) return cc.staticEndpoints;
  return config.endpoints.get(cc.edsServiceName ?? cc.name)?.endpoints ?? [];
}
