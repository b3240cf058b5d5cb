// Owns the data path: listeners, route tables, clusters. applyConfig switches everything for
// new requests in one synchronous step; requests in flight keep what they started with.
import type { ListenerConfig, ProxyConfig } from './config/proxy-config.js';
import { ClusterManager } from './cluster/cluster-manager.js';
import type { ProxyListener } from './listener/proxy-listener.js';
import { HttpListener } from './listener/http-listener.js';
import { TcpListener } from './listener/tcp-listener.js';
import { createOutboundListener } from './listener/outbound-listener.js';
import { createInboundListener } from './listener/inbound-listener.js';
import { ProxyMetrics } from './telemetry/metrics.js';
import type { Logger } from '../common/log.js';
import type { MeshTls } from './tls/mesh-tls.js';
import { tlsMetricsFor } from './tls/tls-metrics.js';
import { proxyLimits, type ProxyLimits } from './config/proxy-limits.js';
import { OverloadGuard } from './overload/overload-guard.js';
import type { ResilienceClock } from './cluster/resilience/resilience-clock.js';

export type ConfigSource = 'xds' | 'saved' | 'static';

export interface ProxyRuntimeOptions {
  metrics?: ProxyMetrics;
  logger?: Logger;
  /** Drain time for listeners that are removed or rebound by a new config. */
  listenerDrainMs?: number;
  random?: () => number;
  maxIdlePerEndpoint?: number;
  idleTimeoutMs?: number;
  /** The workload certificate for mTLS between sidecars (null: no identity, plaintext only). */
  meshTls?: MeshTls | null;
  /** Header limits, timeouts, connection cap and memory guard (trellis proxy flags); defaults without. */
  limits?: Partial<ProxyLimits>;
  /**
   * Time for resilience: timeouts, backoff, the retry budget, RTTs and their decay, ejections.
   * Tests pass one they can move forward; the system clock without.
   */
  clock?: ResilienceClock;
}

export class ProxyRuntime {
  readonly metrics: ProxyMetrics;
  readonly clusters: ClusterManager;
  readonly limits: ProxyLimits;
  /** Connection cap and memory guard, shared by every listener. */
  readonly overload: OverloadGuard;
  private readonly listeners = new Map<string, ProxyListener>();
  private config: ProxyConfig | null = null;
  private source: ConfigSource | null = null;
  private bound = false;
  private binding: Promise<void> = Promise.resolve();
  private draining = false;
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly opts: ProxyRuntimeOptions = {}) {
    this.metrics = opts.metrics ?? new ProxyMetrics();
    this.limits = proxyLimits(opts.limits);
    this.overload = new OverloadGuard({ maxConnections: this.limits.maxConnections, maxMemoryBytes: this.limits.maxMemoryBytes });
    const mesh = opts.meshTls;
    if (mesh) this.metrics.ownIdentity = () => mesh.spiffeId;
    const clock = opts.clock;
    this.clusters = new ClusterManager({
      now: clock ? () => clock.now() : undefined,
      maxIdlePerEndpoint: opts.maxIdlePerEndpoint,
      idleTimeoutMs: opts.idleTimeoutMs,
      statsFor: (c) => this.metrics.connectionStats(c),
      registry: this.metrics.registry,
      meshTls: opts.meshTls,
      tlsMetrics: tlsMetricsFor(this.metrics.registry),
      responseLimits: { maxHeaderBytes: this.limits.maxHeaderBytes, maxHeaders: this.limits.maxHeaders },
    });
  }

  /** True once a config has been applied and all its listeners are bound. */
  get ready(): boolean {
    return this.config !== null && this.bound && !this.draining;
  }

  get activeConfig(): ProxyConfig | null {
    return this.config;
  }

  get configSource(): ConfigSource | null {
    return this.source;
  }

  /** Listeners by name, for the admin dump and tests. */
  activeListeners(): ReadonlyMap<string, ProxyListener> {
    return this.listeners;
  }

  /** An HTTP listener by name (the interception listener hands HTTP to `outbound`); undefined for a TCP one. */
  httpListener(name: string): HttpListener | undefined {
    const l = this.listeners.get(name);
    return l instanceof HttpListener ? l : undefined;
  }

  /** The HTTP listener of a route table (a detecting listener hands it HTTP connections). */
  private readonly httpListenerServing = (routeConfigName: string): HttpListener | undefined => {
    for (const l of this.listeners.values()) {
      if (l instanceof HttpListener && l.config.direction === 'outbound' && l.config.routeConfigName === routeConfigName && !l.config.inlineRoutes) return l;
    }
    return undefined;
  };

  /** The outbound TCP listener of a cluster's port (a Service's tcp port, or a detecting one of an auto port), for interception. */
  tcpListenerFor(cluster: string, port: number): TcpListener | undefined {
    for (const l of this.listeners.values()) {
      if (l instanceof TcpListener && l.config.port === port && l.config.tcpProxy?.cluster === cluster) return l;
    }
    return undefined;
  }

  applyConfig(config: ProxyConfig, source: ConfigSource = 'xds'): void {
    if (this.draining) return;
    // Clusters first, so routes never point at a cluster that is not there yet.
    this.clusters.update(config);
    const wanted = new Map(config.listeners.map((l) => [l.name, l]));
    const toBind: ProxyListener[] = [];
    for (const [name, listener] of this.listeners) {
      const next = wanted.get(name);
      if (!next || !sameSocket(listener.config, next)) {
        this.listeners.delete(name);
        this.retireListener(listener);
      }
    }
    for (const lc of config.listeners) {
      let listener = this.listeners.get(lc.name);
      if (!listener) {
        if (lc.tcpProxy) listener = new TcpListener(lc, this.clusters, this.metrics, this.httpListenerServing);
        else {
          const protection = { limits: this.limits, overload: this.overload, clock: this.opts.clock };
          listener = lc.direction === 'inbound'
            ? createInboundListener(lc, this.clusters, this.metrics, this.opts.meshTls, protection)
            : createOutboundListener(lc, this.clusters, this.metrics, this.opts.random, protection);
        }
        this.listeners.set(lc.name, listener);
        toBind.push(listener);
      }
      listener.config = lc;
      listener.setRoutes(lc.inlineRoutes ?? config.routes.get(lc.routeConfigName));
    }
    this.config = config;
    this.source = source;
    this.metrics.setConfigVersion(config.version, source);
    this.metrics.telemetry.configure(config.listeners);
    if (toBind.length === 0) {
      this.bound = this.allBound();
      return;
    }
    this.bound = false;
    const prev = this.binding;
    this.binding = prev.then(() =>
      Promise.all(toBind.map((l) => l.listen())).then(
        () => {
          this.bound = this.allBound();
        },
        (err: Error) => {
          this.opts.logger?.error({ err: err.message, version: config.version }, 'listener failed to bind');
          throw err;
        },
      ),
    );
    // Keep the chain usable after a failed bind; callers observe failures through listening().
    this.binding.catch(() => undefined);
  }

  /** Resolves once the listeners of the latest config are bound; rejects if one failed. */
  listening(): Promise<void> {
    return this.binding;
  }

  /**
   * SIGTERM: stop accepting, let requests in flight finish within `ms` (answering with
   * `connection: close`), close idle upstream keep-alives, then resolve.
   */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    await this.binding.catch(() => undefined);
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all([...listeners.map((l) => l.drain(ms)), ...this.closing]);
    this.clusters.destroy();
    this.overload.close();
    await this.metrics.telemetry.close();
  }

  close(): Promise<void> {
    return this.drain(0);
  }

  private allBound(): boolean {
    for (const l of this.listeners.values()) if (l.address === null && l.config.bindToPort !== false) return false;
    return true;
  }

  private retireListener(listener: ProxyListener): void {
    const p = listener.drain(this.opts.listenerDrainMs ?? 5000).catch((err: Error) => {
      this.opts.logger?.warn({ err: err.message }, 'listener close failed');
    });
    this.closing.add(p);
    void p.then(() => this.closing.delete(p));
  }
}

function sameSocket(a: ListenerConfig, b: ListenerConfig): boolean {
  // a listener that turns from HTTP to TCP (or back) is a different kind of listener: rebind
  return a.address === b.address && a.port === b.port && a.direction === b.direction && (a.tcpProxy === undefined) === (b.tcpProxy === undefined)
    // binding or not, detecting or not, is a different socket setup
    && (a.bindToPort !== false) === (b.bindToPort !== false) && (a.detect === undefined) === (b.detect === undefined);
}
