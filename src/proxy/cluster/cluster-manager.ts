// Clusters by name, updated in place from each new ProxyConfig so existing pools (and the
// requests on them) carry over; clusters that disappear are retired, not cut.
import type { ClusterConfig, EndpointConfig, ProxyConfig } from '../config/proxy-config.js';
import { Cluster, type ClusterOptions } from './cluster.js';
import type { ConnectionStats } from './pool/connection-pool.js';

export interface ClusterManagerOptions extends Omit<ClusterOptions, 'stats'> {
  /** Connection counters per cluster name. */
  statsFor?: (cluster: string) => ConnectionStats;
}

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private readonly retiring = new Set<Cluster>();

  constructor(private readonly opts: ClusterManagerOptions = {}) {}

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
      else cluster = new Cluster(cc, { ...this.opts, stats: this.opts.statsFor?.(name) });
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

  closeIdle(): void {
    for (const c of this.clusters.values()) c.closeIdle();
  }

  destroy(): void {
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
