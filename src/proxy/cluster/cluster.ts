// A cluster: its config, its balancer and one connection pool per endpoint. Endpoint updates
// keep the pools of endpoints that stay, so their keep-alive sockets and in-flight exchanges
// survive a config push; pools of endpoints that leave are retired (idle sockets close now,
// busy ones after their exchange).
import type { ClusterConfig, EndpointConfig } from '../config/proxy-config.js';
import { errors, type ProxyError } from '../errors.js';
import { createLoadBalancer, type LoadBalancer } from './balancer/load-balancer.js';
import { setup as setupRoundRobin } from './balancer/load-balancer-round-robin.js';
import { ConnectionPool, type ConnectionStats } from './pool/connection-pool.js';

setupRoundRobin();


export interface ClusterOptions {
  maxIdlePerEndpoint?: number;
  idleTimeoutMs?: number;
  stats?: ConnectionStats;
}

export class Cluster {
  config: ClusterConfig;
  private balancer: LoadBalancer;
  private pools = new Map<string, ConnectionPool>();
  /** Endpoint object (as picked) → its pool, rebuilt on every update so a pick is one lookup. */
  private poolByEndpoint = new Map<EndpointConfig, ConnectionPool>();
  private endpointList: EndpointConfig[] = [];
  /** Pools of endpoints that left, kept until their busy sockets finish. */
  private readonly retiring = new Set<ConnectionPool>();

  constructor(config: ClusterConfig, private readonly opts: ClusterOptions = {}) {
    this.config = config;
    this.balancer = createLoadBalancer(config.lbPolicy.kind);
  }

  get name(): string {
    return this.config.name;
  }

  get endpoints(): readonly EndpointConfig[] {
    return this.endpointList;
  }

  updateConfig(config: ClusterConfig): void {
    if (config.lbPolicy.kind !== this.config.lbPolicy.kind) {
      this.balancer = createLoadBalancer(config.lbPolicy.kind);
      this.balancer.updateEndpoints(this.endpointList);
    }
    this.config = config;
    for (const pool of this.pools.values()) pool.connectTimeoutMs = config.connectTimeoutMs;
  }

  updateEndpoints(endpoints: EndpointConfig[]): void {
    const next = new Map<string, ConnectionPool>();
    const byEndpoint = new Map<EndpointConfig, ConnectionPool>();
    for (const e of endpoints) {
      const key = `${e.address}:${e.port}`;
      let pool = next.get(key) ?? this.pools.get(key);
      if (!pool) {
        pool = new ConnectionPool(e.address, e.port, {
          connectTimeoutMs: this.config.connectTimeoutMs,
          maxIdle: this.opts.maxIdlePerEndpoint,
          idleTimeoutMs: this.opts.idleTimeoutMs,
          stats: this.opts.stats,
        });
      }
      next.set(key, pool);
      byEndpoint.set(e, pool);
    }
    for (const [key, pool] of this.pools) if (!next.has(key)) this.retirePool(pool);
    this.pools = next;
    this.poolByEndpoint = byEndpoint;
    this.endpointList = endpoints;
    this.balancer.updateEndpoints(endpoints);
  }

  /** The pool of the next endpoint, or the error to answer with. */
  pick(): ConnectionPool | ProxyError {
    const result = this.balancer.picker.pick();
    if (result.kind === 'fail') return result.error;
    return this.poolByEndpoint.get(result.endpoint) ?? errors.noHealthyUpstream;
  }

  poolFor(address: string, port: number): ConnectionPool | undefined {
    return this.pools.get(`${address}:${port}`);
  }

  /** Retires every pool; resolves when their last busy socket is gone. */
  retire(): Promise<void> {
    const all = [...this.pools.values()].map((p) => this.retirePool(p));
    this.pools = new Map();
    this.poolByEndpoint = new Map();
    this.balancer.updateEndpoints([]);
    return Promise.all(all).then(() => undefined);
  }

  private retirePool(pool: ConnectionPool): Promise<void> {
    this.retiring.add(pool);
    return pool.retire().then(() => {
      this.retiring.delete(pool);
    });
  }

  closeIdle(): void {
    for (const pool of this.pools.values()) pool.closeIdle();
  }

  destroy(): void {
    for (const pool of this.pools.values()) pool.destroy();
    for (const pool of this.retiring) pool.destroy();
    this.retiring.clear();
  }
}
