// Clusters by name, updated in place from each new ProxyConfig so existing pools (and the
// requests on them) carry over; clusters that disappear are retired, not cut.
import type { ClusterConfig, EndpointConfig, ProxyConfig } from '../config/proxy-config.js';
import { Cluster, type ClusterOptions } from './cluster.js';
import type { ConnectionStats } from './pool/connection-pool.js';
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import { endpointMetricsFor, type EndpointMetrics } from '../telemetry/endpoint-metrics.js';
import { dnsMetricsFor, type DnsMetrics } from '../telemetry/dns-metrics.js';
import { StrictDnsResolver, type HostLookup } from './strict-dns-resolver.js';
import type { ResilienceClock } from './resilience/resilience-clock.js';

export interface ClusterManagerOptions extends Omit<ClusterOptions, 'stats' | 'ejected'> {
  /** Connection counters per cluster name. */
  statsFor?: (cluster: string) => ConnectionStats;
  /** Where the per-endpoint metrics (ejections, in-flight, EWMA, ejected) and DNS lookups are exposed. */
  registry?: MetricRegistry;
  /** Resolves STRICT_DNS clusters' host names (tests pass their own). */
  dnsLookup?: HostLookup;
  /** Schedules DNS refreshes (tests pass a manual clock). */
  dnsClock?: ResilienceClock;
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
  /** The resolvers of STRICT_DNS clusters, by cluster name. */
  private readonly resolvers = new Map<string, StrictDnsResolver>();
  private readonly dnsMetrics: DnsMetrics | null;
  private readonly retiring = new Set<Cluster>();
  private readonly endpointMetrics: EndpointMetrics | null;
  private readonly source = (): Iterable<Cluster> => this.clusters.values();

  constructor(private readonly opts: ClusterManagerOptions = {}) {
    this.endpointMetrics = opts.registry ? endpointMetricsFor(opts.registry) : null;
    this.endpointMetrics?.addSource(this.source);
    this.dnsMetrics = opts.registry ? dnsMetricsFor(opts.registry) : null;
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
      cluster.updateEndpoints(cc.dns ? this.resolverFor(name).configure(cc.dns) : endpointsOf(cc, config));
      next.set(name, cluster);
    }
    for (const [name, resolver] of this.resolvers) {
      if (next.get(name)?.config.dns) continue;
      resolver.close();
      this.resolvers.delete(name);
    }
    for (const [name, cluster] of this.clusters) {
      if (next.has(name)) continue;
      this.retiring.add(cluster);
      void cluster.retire().then(() => this.retiring.delete(cluster));
    }
    this.clusters = next;
  }

  /** The DNS resolver of a STRICT_DNS cluster (tests wait on it); undefined for others. */
  dnsResolver(cluster: string): StrictDnsResolver | undefined {
    return this.resolvers.get(cluster);
  }

  private resolverFor(name: string): StrictDnsResolver {
    let r = this.resolvers.get(name);
    if (r === undefined) {
      r = new StrictDnsResolver({
        lookup: this.opts.dnsLookup,
        clock: this.opts.dnsClock,
        counters: this.dnsMetrics?.countersFor(name),
        // a later refresh replaces the endpoints of the cluster of that name now in force
        onChange: (endpoints) => this.clusters.get(name)?.updateEndpoints(endpoints),
      });
      this.resolvers.set(name, r);
    }
    return r;
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
    for (const r of this.resolvers.values()) r.close();
    this.resolvers.clear();
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
