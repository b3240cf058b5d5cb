// The part both listeners share: an HTTP/1 server (http1/: Node's llhttp parser on the socket,
// with request validation, timeouts, 100-continue, pipelining, upgrades and HTTP/1.0) and a
// node:http2 one (h2-listener.ts; connections reach it by ALPN or the h2c preface,
// protocol-split.ts), whose requests go router → cluster → balancer → pool.
// The route table is swapped by reference, so a new config applies to the next request while
// requests in flight keep the route and connection they started with.
import http from 'node:http';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import type { HeaderMutation, ListenerConfig, RouteTable } from '../config/proxy-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import type { Cluster } from '../cluster/cluster.js';
import { clusterResilience, type ClusterResilience } from '../cluster/resilience/cluster-resilience.js';
import { RouteResilience } from '../cluster/resilience/route-resilience.js';
import { systemClock, type ResilienceClock } from '../cluster/resilience/resilience-clock.js';
import { Router, type CompiledRoute } from '../http/router.js';
import { buildRequestHead, hostOf } from '../http/forward-headers.js';
import { errorHeader, errors, type ProxyError } from '../errors.js';
import type { Direction, ProxyMetrics, RouteStats } from '../telemetry/metrics.js';
import { HttpExchange, type ExchangeHost, type ExchangeTarget } from './http-exchange.js';
import { Authorizer } from '../authz/authz-matcher.js';
import { authzDeniedFor } from '../authz/authz-metrics.js';
import type { CounterFamily } from '../telemetry/metric-families.js';
import type { ConnectionTracker } from '../telemetry/connection-metrics.js';
import { InboundTlsFront } from '../tls/inbound-tls.js';
import type { MeshTls } from '../tls/mesh-tls.js';
import { connectionOf, peerIdentity } from '../tls/peer-identity.js';
import { tlsMetricsFor } from '../tls/tls-metrics.js';
import { UpgradeStreams } from './http-upgrade.js';
import { ConnectTerminator } from './connect-terminator.js';
import type { ProxyListener } from './proxy-listener.js';
import { streamMetricsFor } from '../telemetry/stream-metrics.js';
import { defaultProxyLimits, type ProxyLimits } from '../config/proxy-limits.js';
import type { OverloadGuard } from '../overload/overload-guard.js';
import { refusalMetricsFor } from '../telemetry/refusal-metrics.js';
import { HttpLimits } from './http-limits.js';
import { H2Listener } from './h2-listener.js';
import { ProtocolSplit } from './protocol-split.js';
import { respondHeadersOnly, withH2Framing } from '../http/h2-headers.js';
import { Http1Server } from './http1/http1-server.js';
import { asIncomingMessage, asServerResponse } from './http1/http1-api.js';
import { grpcErrorHead, grpcStatusForError, isGrpcRequest } from '../http/grpc.js';

/** The sidecar-wide protection a listener applies (both optional: Envoy's defaults, no cap). */
export interface ListenerProtection {
  /** Header sizes, counts and timeouts (the sidecar's flags). */
  limits?: ProxyLimits;
  /** The sidecar's connection cap and memory guard, shared by its listeners. */
  overload?: OverloadGuard | null;
}

export interface HttpListenerOptions extends ListenerProtection {
  config: ListenerConfig;
  clusters: ClusterManager;
  metrics: ProxyMetrics;
  /** Used when the config carries no table for this listener. */
  defaultRoutes?: RouteTable;
  /** Weighted cluster choice, fault percentages and retry jitter; seeded in tests. */
  random?: () => number;
  /** Timeouts, backoff and the retry budget's window; a manual clock in tests. */
  clock?: ResilienceClock;
  /** Inbound: the workload certificate for mTLS from peers (the config says whether it is on). */
  meshTls?: MeshTls | null;
}

interface ErrorHeads {
  open: string[];
  closing: string[];
}

function errorHead(e: ProxyError, close: boolean): string[] {
  const h = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(e.body)), errorHeader, e.name];
  if (close) h.push('connection', 'close');
  return h;
}

const errorHeads = new Map<ProxyError, ErrorHeads>(
  Object.values(errors).map((e) => [e, { open: errorHead(e, false), closing: errorHead(e, true) }]),
);

/** Heads of errors made at config time (fault aborts with a route's status), made once each. */
function headsOf(error: ProxyError): ErrorHeads {
  let h = errorHeads.get(error);
  if (h === undefined) {
    h = { open: errorHead(error, false), closing: errorHead(error, true) };
    errorHeads.set(error, h);
  }
  return h;
}

export class HttpListener implements ExchangeHost, ProxyListener {
  private listenerConfig: ListenerConfig;
  /** Compiled from config.authz when the config changes; null = no authorization. */
  private authorizer: Authorizer | null = null;
  private denied: CounterFamily | null = null;
  /** Inbound only: TLS termination and plaintext sniffing in front of the HTTP servers. */
  private readonly front: InboundTlsFront | null = null;
  /** Outbound: the socket that accepts and hands connections to the split. */
  private readonly plainFront: Server | null = null;
  private readonly h2: H2Listener;
  private readonly split: ProtocolSplit;
  readonly direction: Direction;
  draining = false;
  private router: Router | null = null;
  private table: RouteTable | null = null;
  private readonly server: Http1Server;
  private readonly clusters: ClusterManager;
  private readonly metrics: ProxyMetrics;
  readonly random: () => number;
  readonly clock: ResilienceClock;
  private readonly noRouteStats: RouteStats;
  private readonly downstream: ConnectionTracker;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** WebSocket and other HTTP/1.1 upgrades: routed here, then carried by http-upgrade.ts. */
  private readonly upgrades: UpgradeStreams;
  /** What is refused before routing (malformed, oversized, too slow, overload), and how. */
  readonly limits: HttpLimits;
  /** Inbound only: the end of TCP tunnels from peer sidecars (CONNECT). */
  private readonly connects: ConnectTerminator | null = null;

  constructor(private readonly opts: HttpListenerOptions) {
    this.listenerConfig = opts.config;
    this.direction = opts.config.direction;
    this.clusters = opts.clusters;
    this.metrics = opts.metrics;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? systemClock;
    this.noRouteStats = this.metrics.routeStatsFor(this.direction, '', '');
    this.downstream = this.metrics.downstreamTracker(this.direction);
    this.limits = new HttpLimits({
      limits: opts.limits ?? defaultProxyLimits, direction: this.direction, metrics: refusalMetricsFor(this.metrics.registry),
      overload: opts.overload ?? null, plaintext: () => this.front === null || !this.listenerConfig.tls,
    });
    this.server = new Http1Server({
      ...this.limits.serverLimits,
      onRequest: (req, res) => this.onRequest(asIncomingMessage(req), asServerResponse(res)),
      onUpgrade: (req, socket, head) => this.onUpgrade(asIncomingMessage(req), socket, head),
      onConnect: this.direction === 'inbound' ? (req, socket, head) => this.onConnect(asIncomingMessage(req), socket, head) : null,
      clientError: this.limits.clientError,
      timeout: this.limits.timeout,
    });
    this.upgrades = new UpgradeStreams(this.direction, streamMetricsFor(this.metrics.registry));
    const refusals = refusalMetricsFor(this.metrics.registry);
    const direction = this.direction;
    this.h2 = new H2Listener({ onRequest: this.onRequest, refusals: (reason) => refusals.count(direction, reason) });
    this.split = new ProtocolSplit(this.server, this.h2);
    if (this.direction === 'inbound') {
      this.connects = new ConnectTerminator(this.clusters, this.metrics, streamMetricsFor(this.metrics.registry));
    }
    if (this.direction === 'inbound') {
      this.front = new InboundTlsFront(this.split.accept, () => this.listenerConfig.tls, opts.meshTls ?? null, tlsMetricsFor(this.metrics.registry));
    } else {
      // half-open like node:http's own server: a tunnelled stream (CONNECT, an upgrade) may go on one way after a FIN
      this.plainFront = net.createServer({ noDelay: true, allowHalfOpen: true }, this.split.accept);
    }
    this.config = opts.config;
    // before the TLS front's own handler, so a connection over the cap goes no further
    this.acceptor.prependListener('connection', this.onConnection);
  }

  private readonly onConnection = (socket: Socket): void => {
    if (!this.limits.admit(socket)) return;
    this.downstream.track(socket);
  };

  get config(): ListenerConfig {
    return this.listenerConfig;
  }

  /** A new config applies to the next request; authorization is compiled here, once. */
  set config(c: ListenerConfig) {
    const prev = this.authorizer?.config;
    const prevTls = this.listenerConfig.tls?.mode;
    this.listenerConfig = c;
    if (this.front !== null && c.tls?.mode !== prevTls) this.front.configChanged();
    if (c.authz === prev) return;
    this.authorizer = c.authz ? new Authorizer(c.authz) : null;
    if (this.authorizer) this.denied ??= authzDeniedFor(this.metrics.registry);
  }

  /** The socket that accepts: the TLS front for an inbound listener, else the plain front. */
  private get acceptor(): Server {
    return this.front?.server ?? this.plainFront!;
  }

  /** Swaps the route table for new requests. */
  setRoutes(table: RouteTable | undefined): void {
    const t = table ?? this.opts.defaultRoutes;
    this.table = t ?? null;
    this.router = t ? new Router(t, this.random) : null;
    this.connects?.setRoutes(t?.connect);
  }

  /** The route table requests are routed by now (interception reads the services' addresses from it). */
  get routeTable(): RouteTable | null {
    return this.table;
  }

  /** A connection accepted elsewhere (the interception listener) served as if accepted here. */
  acceptConnection(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.acceptor.emit('connection', socket);
  }

  get routes(): Router | null {
    return this.router;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      const acceptor = this.acceptor;
      acceptor.once('error', onError);
      acceptor.listen(this.config.port, this.config.address, () => {
        acceptor.removeListener('error', onError);
        // the HTTP/1 server never binds (its front does); its timeout sweep starts now
        this.server.start();
        resolve(acceptor.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | null {
    return this.acceptor.address() as AddressInfo | null;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `ms`, answers with
   * `connection: close` meanwhile, then cuts whatever is left.
   */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.acceptor.close(() => resolve()));
    // The HTTP servers never listened; close() only stops their timers (and HTTP/1 keep-alive).
    this.front?.close();
    this.server.close();
    this.split.close();
    this.server.closeIdleConnections();
    // HTTP/2 clients hear GOAWAY: streams in flight finish, new ones go to a new connection.
    this.h2.drain();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.whenIdle(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    // upgraded connections left the HTTP server; they are cut with the rest
    this.upgrades.destroyAll();
    this.connects?.destroyAll();
    this.h2.closeAll();
    await closed;
  }

  /** Closes at once (a changed address or a removed listener after its drain). */
  close(): Promise<void> {
    return this.drain(0);
  }

  respondError(res: http.ServerResponse, error: ProxyError, close = false): void {
    // HTTP/2 has no Connection header: draining sessions say GOAWAY instead.
    const closing = (this.draining || close) && !isH2Response(res);
    if (isGrpcRequest(res.req)) {
      // a gRPC client reads the status from a trailers-only response, not from HTTP
      respondHeadersOnly(res, 200, closing ? [...grpcErrorHead(error), 'connection', 'close'] : grpcErrorHead(error));
      return;
    }
    const heads = headsOf(error);
    res.writeHead(error.status, closing ? heads.closing : heads.open);
    res.end(error.body);
  }

  refusedResponse(reason: string): void {
    this.limits.refusedResponse(reason);
  }

  exchangeDone(_ex: HttpExchange): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const refusal = this.limits.check(req);
    if (refusal !== null) {
      this.limits.refuse(req, res, refusal);
      return;
    }
    const start = process.hrtime.bigint();
    res.sendDate = false;
    const authz = this.authorizer;
    if (authz !== null) {
      const peer = peerIdentity(connectionOf(req));
      const reason = authz.check(peer, req.method ?? '', req.url ?? '/');
      if (reason !== null) {
        this.denied!.cell(peer ?? 'plaintext', reason).inc();
        this.reject(res, errors.unauthorized, this.noRouteStats, start);
        return;
      }
    }
    const router = this.router;
    const route = router === null ? null : router.route(hostOf(req.rawHeaders), req.url ?? '/', req);
    if (route === null) {
      this.reject(res, errors.noRoute, this.noRouteStats, start);
      return;
    }
    const filters = route.filters;
    if (filters !== null && filters.redirect !== null) {
      filters.respondRedirect(req, res, this.draining);
      statsFor(this.metrics, this.direction, route, '').record(res.statusCode, null, Number(process.hrtime.bigint() - start) / 1e9, req);
      return;
    }
    const clusterName = route.pickCluster() ?? '';
    const cluster = clusterName === '' ? undefined : this.clusters.get(clusterName);
    if (cluster === undefined) {
      this.reject(res, errors.noHealthyUpstream, statsFor(this.metrics, this.direction, route, clusterName), start);
      return;
    }
    const target = this.targetFor(route, clusterName, cluster);
    // an HTTP/1 request that travels to a peer over HTTP/2 says so, for a peer whose app takes the downstream's protocol
    const markHttp1 = this.direction === 'outbound' && req.httpVersionMajor === 1 && cluster.config.upstreamProtocol === 'h2';
    const rh = withH2Framing(req, filters === null ? buildRequestHead(req, target.defaultHost, markHttp1) : filters.requestHead(req, target.defaultHost, markHttp1));
    const { head, framing } = rh;
    this.inFlight++;
    const ex = new HttpExchange(this, req, res, target, head, framing, start);
    ex.downstreamH2 = req.httpVersionMajor === 2 && rh.fromHttp1 !== true;
    if (filters !== null && filters.mirrors !== null) ex.mirrorTo(filters.startMirrors(this.clusters, head, framing, req.method === 'HEAD', this.random));
    ex.start();
  };

  /** An upgrade request (WebSocket, h2c, ...): authorized and routed like any request, then tunnelled. */
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Socket, early: Buffer): void => {
    const start = process.hrtime.bigint();
    socket.on('error', ignore);
    const refusal = this.limits.check(req);
    if (refusal !== null) {
      this.limits.refuseUpgrade(socket, refusal);
      return;
    }
    const authz = this.authorizer;
    if (authz !== null) {
      const peer = peerIdentity(req.socket);
      const reason = authz.check(peer, req.method ?? '', req.url ?? '/');
      if (reason !== null) {
        this.denied!.cell(peer ?? 'plaintext', reason).inc();
        this.refuseUpgrade(req, socket, errors.unauthorized, this.noRouteStats, start);
        return;
      }
    }
    const route = this.router === null ? null : this.router.route(hostOf(req.rawHeaders), req.url ?? '/', req);
    if (route === null) {
      this.refuseUpgrade(req, socket, errors.noRoute, this.noRouteStats, start);
      return;
    }
    const clusterName = route.pickCluster() ?? '';
    const cluster = clusterName === '' ? undefined : this.clusters.get(clusterName);
    if (cluster === undefined) {
      this.refuseUpgrade(req, socket, errors.noHealthyUpstream, statsFor(this.metrics, this.direction, route, clusterName), start);
      return;
    }
    const target = this.targetFor(route, clusterName, cluster);
    const filters = route.filters;
    const { head } = filters === null ? buildRequestHead(req, target.defaultHost) : filters.requestHead(req, target.defaultHost);
    this.upgrades.start(req, socket, early, target, head, start);
  };

  /** A CONNECT from a peer sidecar: a TCP tunnel to one of the app's tcp ports, authorized by the peer's identity. */
  private readonly onConnect = (req: http.IncomingMessage, socket: Socket, early: Buffer): void => {
    const connects = this.connects!;
    socket.on('error', ignore);
    if (this.draining) {
      connects.refuse(socket, '', errors.overloaded);
      return;
    }
    const authz = this.authorizer;
    if (authz !== null) {
      const peer = peerIdentity(req.socket);
      const reason = authz.checkConnection(peer);
      if (reason !== null) {
        this.denied!.cell(peer ?? 'plaintext', reason).inc();
        connects.refuse(socket, '', errors.unauthorized);
        return;
      }
    }
    connects.handle(req, socket, early);
  };

  private refuseUpgrade(req: http.IncomingMessage, socket: Socket, error: ProxyError, stats: RouteStats, start: bigint): void {
    this.upgrades.refuse(req, socket, error);
    stats.record(error.status, error, Number(process.hrtime.bigint() - start) / 1e9, req);
  }

  /** Cached on the compiled route per cluster; rebuilt when the cluster object was replaced. */
  private targetFor(route: CompiledRoute, clusterName: string, cluster: Cluster): ExchangeTarget & { defaultHost: string } {
    let t = route.stats.get(clusterName) as RouteTarget | undefined;
    if (t === undefined || t.cluster !== cluster) {
      const stats = statsFor(this.metrics, this.direction, route, clusterName);
      // The identity mTLS requires of the cluster's sidecars, when it names exactly one.
      const sans = cluster.config.upstreamTls?.subjectAltNames;
      if (this.direction === 'outbound') stats.destinationIdentity = sans !== undefined && sans.length === 1 ? sans[0] : null;
      t = new RouteTarget(
        stats,
        new RouteResilience(route.config, this.metrics),
        cluster,
        clusterResilience(cluster, this.metrics),
        route.filters?.responseHeaders ?? null,
      );
      route.stats.set(clusterName, t);
    }
    return t;
  }

  private reject(res: http.ServerResponse, error: ProxyError, stats: RouteStats, start: bigint): void {
    // Answers the proxy makes before any cluster (no route, unauthorized) belong in taps and access logs too.
    const observer = stats.observer;
    const rec = observer.on ? observer.begin(res.req, '') : null;
    this.respondError(res, error);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    stats.record(error.status, error, seconds, res.req, isGrpcRequest(res.req) ? grpcStatusForError(error) : -1);
    if (rec !== null) observer.end(rec, stats, error.status, error, seconds, null, 0);
  }
}

class RouteTarget implements ExchangeTarget {
  /**
   * Host for a request that came without one (HTTP/1.0): the head is built once for all tries,
   * which may go to different endpoints, so it names the cluster's first endpoint.
   */
  readonly defaultHost: string;
  constructor(
    readonly stats: RouteStats,
    readonly route: RouteResilience,
    readonly cluster: Cluster,
    readonly resilience: ClusterResilience,
    readonly responseHeaders: HeaderMutation | null,
  ) {
    const first = cluster.endpoints[0];
    this.defaultHost = first === undefined ? 'localhost' : `${first.address}:${first.port}`;
  }
}

function statsFor(metrics: ProxyMetrics, direction: Direction, route: CompiledRoute, cluster: string): RouteStats {
  // ProxyMetrics caches per label tuple; only a request without a cluster gets here per request.
  return metrics.routeStatsFor(direction, route.name, cluster);
}

function ignore(): void {}
function isH2Response(res: http.ServerResponse): boolean {
  return (res as any).stream !== undefined;
}
