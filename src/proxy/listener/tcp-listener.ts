// An outbound TCP listener (Envoy's tcp_proxy, docs/protocols.md): the app connects to its pod
// address at a Service's tcp port, and each connection is proxied as opaque bytes to one
// endpoint of the service's cluster (tcp-proxy-session.ts). The cluster is looked up per
// connection, so a config push applies to the next connection; connections already open keep
// going until they end or a drain cuts them.
//
// A detecting listener (a Service port without a protocol, `config.detect`) first reads what the
// client says (protocol-dispatch.ts): HTTP/1 or h2c goes to the HTTP listener of its route table,
// routed like any outbound request; TLS, anything else, or silence for the detection timeout is
// proxied as TCP. One that does not bind (`bindToPort: false`) only takes the connections the
// interception listener hands it.
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
import { ProtocolDispatch, type ProtocolHandler } from './protocol-dispatch.js';
import type { Detection } from './protocol-detect.js';

/** Where a detecting listener sends HTTP: the HTTP listener that serves a route table, if the config has one. */
export type HttpListenerLookup = (routeConfigName: string) => { acceptConnection(socket: Socket): void } | undefined;

export class TcpListener implements ProxyListener {
  private listenerConfig: ListenerConfig;
  private readonly server: net.Server;
  private readonly sessions = new Set<TcpProxySession>();
  private readonly streams: StreamMetrics;
  private readonly downstream: ConnectionTracker;
  private draining = false;
  private readonly dispatch: ProtocolDispatch | null;
  /** Connections still being sniffed, cut by a drain. */
  private readonly detecting = new Set<Socket>();

  constructor(config: ListenerConfig, private readonly clusters: ClusterManager, private readonly metrics: ProxyMetrics, private readonly httpFor: HttpListenerLookup = () => undefined) {
    this.listenerConfig = config;
    this.streams = streamMetricsFor(metrics.registry);
    this.downstream = metrics.downstreamTracker(config.direction);
    // half-open: a client's FIN ends only its direction; the answer may still come back
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, this.onAccepted);
    this.dispatch = config.detect === undefined ? null : new ProtocolDispatch({
      direction: config.direction,
      registry: metrics.registry,
      // read per connection: a new MeshConfig timeout applies to the next one
      timeoutMs: () => this.listenerConfig.detect?.timeoutMs ?? 10_000,
      labels: () => ({ cluster: this.listenerConfig.tcpProxy?.cluster ?? '', port: String(this.listenerConfig.port) }),
      handlers: { tcp: this.onTcp, http1: this.onHttp1, http2: this.onHttp2 },
    });
  }

  get config(): ListenerConfig {
    return this.listenerConfig;
  }

  set config(c: ListenerConfig) {
    this.listenerConfig = c;
  }

  setRoutes(_table: RouteTable | undefined): void {}

  /** The bound address (null for a listener that binds nothing). */
  get address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Binds a socket only when the config says so. */
  get binds(): boolean {
    return this.listenerConfig.bindToPort !== false;
  }

  get activeRequests(): number {
    return this.sessions.size;
  }

  listen(): Promise<AddressInfo> {
    if (!this.binds) return Promise.resolve({ address: this.listenerConfig.address, port: this.listenerConfig.port, family: 'IPv4' });
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
    for (const s of this.detecting) s.destroy();
    this.detecting.clear();
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
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
    this.onAccepted(socket);
  }

  private readonly onAccepted = (socket: Socket): void => {
    if (this.dispatch === null) return this.proxy(socket, null);
    if (this.draining) return void socket.destroy();
    this.detecting.add(socket);
    socket.once('close', () => this.detecting.delete(socket));
    this.dispatch.accept(socket, { address: this.listenerConfig.address, port: this.listenerConfig.port });
  };

  private readonly onTcp: ProtocolHandler = (socket, detection) => {
    this.detecting.delete(socket);
    this.proxy(socket, detection);
  };

  private readonly onHttp1: ProtocolHandler = (socket, detection) => this.toHttp(socket, detection, this.listenerConfig.detect?.http1 === true);
  private readonly onHttp2: ProtocolHandler = (socket, detection) => this.toHttp(socket, detection, this.listenerConfig.detect?.h2c === true);

  /** HTTP goes to the HTTP listener of the route table (the outbound one); without it, or when the config leaves that version out, TCP. */
  private toHttp(socket: Socket, detection: Detection, wanted: boolean): void {
    this.detecting.delete(socket);
    const http = wanted ? this.httpFor(this.listenerConfig.routeConfigName) : undefined;
    if (http === undefined || this.draining) return this.proxy(socket, detection);
    http.acceptConnection(socket);
    socket.resume();
  }

  private proxy(socket: Socket, detection: Detection | null): void {
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
      ended: detection?.ended ?? null,
      onDone: (s) => this.sessions.delete(s),
    });
    this.sessions.add(session);
    session.start();
  }

  private refuse(socket: Socket, cluster: string, error: ProxyError): void {
    this.streams.tcpResult(this.listenerConfig.direction, cluster, error.name);
    socket.destroy();
  }
}

function ignore(): void {}
