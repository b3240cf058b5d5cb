// An outbound TCP listener (Envoy's tcp_proxy, docs/protocols.md): the app connects to its pod
// address at a Service's tcp port, and each connection is proxied as opaque bytes to one
// endpoint of the service's cluster (tcp-proxy-session.ts). The cluster is looked up per
// connection, so a config push applies to the next connection; connections already open keep
// going until they end or a drain cuts them.
import net, { type AddressInfo, type Socket } from 'node:net';
import type { ListenerConfig, RouteTable } from '../config/proxy-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import { clusterResilience } from '../cluster/resilience/cluster-resilience.js';
import { errors, type ProxyError } from '../errors.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import { streamMetricsFor, type StreamMetrics } from '../telemetry/stream-metrics.js';
import type { ConnectionTracker } from '../telemetry/connection-metrics.js';
import type { ProxyListener } from './proxy-listener.js';
import { TcpProxySession } from './tcp-proxy-session.js';

export class TcpListener implements ProxyListener {
  private listenerConfig: ListenerConfig;
  private readonly server: net.Server;
  private readonly sessions = new Set<TcpProxySession>();
  private readonly streams: StreamMetrics;
  private readonly downstream: ConnectionTracker;
  private draining = false;

  constructor(config: ListenerConfig, private readonly clusters: ClusterManager, private readonly metrics: ProxyMetrics) {
    this.listenerConfig = config;
    this.streams = streamMetricsFor(metrics.registry);
    this.downstream = metrics.downstreamTracker(config.direction);
    // half-open: a client's FIN ends only its direction; the answer may still come back
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, this.onConnection);
  }

  get config(): ListenerConfig {
    return this.listenerConfig;
  }

  set config(c: ListenerConfig) {
    this.listenerConfig = c;
  }

  setRoutes(_table: RouteTable | undefined): void {}

  get address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  get activeRequests(): number {
    return this.sessions.size;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        // name the port: a clash with the app or another process is the usual cause
        reject(err.code === 'EADDRINUSE' ? new Error(`TCP listener "${this.config.name}": ${this.config.address}:${this.config.port} is already in use (by the app or another process)`) : err);
      };
      this.server.once('error', onError);
      this.server.listen(this.config.port, this.config.address, () => {
        this.server.removeListener('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; connections in flight get `ms` to end by themselves, then are cut. */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.sessions.size > 0 && ms > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        const check = setInterval(() => {
          if (this.sessions.size === 0) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 50);
        timer.unref();
        setTimeout(() => clearInterval(check), ms).unref();
      });
    }
    for (const s of [...this.sessions]) s.destroy();
    this.sessions.clear();
    await closed;
  }

  close(): Promise<void> {
    return this.drain(0);
  }

  /** A connection accepted elsewhere (the interception listener, paused) proxied as if accepted here. */
  acceptConnection(socket: Socket): void {
    this.onConnection(socket);
  }

  private readonly onConnection = (socket: Socket): void => {
    this.downstream.track(socket);
    socket.on('error', ignore);
    const tcp = this.listenerConfig.tcpProxy;
    const cluster = tcp === undefined ? undefined : this.clusters.get(tcp.cluster);
    if (this.draining || tcp === undefined || cluster === undefined) {
      this.refuse(socket, tcp?.cluster ?? '', errors.noHealthyUpstream);
      return;
    }
    const resilience = clusterResilience(cluster, this.metrics);
    // TCP has no way to say why a connection is refused: it is closed, and metrics say why
    const side = { established(): void {}, refused(): void { socket.destroy(); } };
    const session: TcpProxySession = new TcpProxySession(socket, side, {
      direction: this.listenerConfig.direction,
      cluster,
      breaker: resilience.breaker,
      resilienceStats: resilience.stats,
      metrics: this.streams,
      idleTimeoutMs: tcp.idleTimeoutMs,
      maxConnectAttempts: tcp.maxConnectAttempts,
      tunnelHostname: tcp.tunnelHostname,
      onDone: (s) => this.sessions.delete(s),
    });
    this.sessions.add(session);
    session.start();
  };

  private refuse(socket: Socket, cluster: string, error: ProxyError): void {
    this.streams.tcpResult(this.listenerConfig.direction, cluster, error.name);
    socket.destroy();
  }
}

function ignore(): void {}
