// The inbound end of a TCP tunnel (docs/protocols.md): a peer sidecar sends `CONNECT
// <service>:<port> HTTP/1.1` over mTLS to this sidecar's inbound listener; the listener checks
// authorization by the peer's verified identity, and this file finds the CONNECT route for the
// port (only the app's declared tcp ports have one: the sidecar never opens a connection
// anywhere else), connects to the app, answers 200 and pipes the bytes. An error is answered
// with the proxy's status and `x-trellis-error`, so the peer counts a connect failure.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectRoute } from '../config/proxy-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import { clusterResilience } from '../cluster/resilience/cluster-resilience.js';
import { errors, type ProxyError } from '../errors.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import type { StreamMetrics } from '../telemetry/stream-metrics.js';
import { rawErrorResponse } from './http-upgrade.js';
import { TcpProxySession } from './tcp-proxy-session.js';
import { TCP_IDLE_TIMEOUT_MS } from './tcp-defaults.js';

/** `host:port` (or `[v6]:port`) → port, or NaN. */
export function connectPort(target: string | undefined): number {
  const m = /:(\d{1,5})$/.exec(target ?? '');
  const port = m === null ? NaN : Number(m[1]);
  return port >= 1 && port <= 65535 ? port : NaN;
}

export class ConnectTerminator {
  private routes: ConnectRoute[] = [];
  private readonly sessions = new Set<TcpProxySession>();

  constructor(private readonly clusters: ClusterManager, private readonly metrics: ProxyMetrics, private readonly streams: StreamMetrics) {}

  setRoutes(routes: ConnectRoute[] | undefined): void {
    this.routes = routes ?? [];
  }

  /** Answers a CONNECT the listener refused (unauthorized, draining). */
  refuse(socket: Socket, cluster: string, error: ProxyError): void {
    this.streams.tcpResult('inbound', cluster, error.name);
    socket.end(rawErrorResponse(error));
  }

  /** An authorized CONNECT: to the app's port if a route names it, else 404 no-route. */
  handle(req: IncomingMessage, socket: Socket, early: Buffer): void {
    socket.on('error', ignore);
    const port = connectPort(req.url);
    const route = Number.isNaN(port) ? undefined : this.routes.find((r) => r.port === port);
    if (route === undefined) {
      this.refuse(socket, '', errors.noRoute);
      return;
    }
    const cluster = this.clusters.get(route.cluster);
    if (cluster === undefined) {
      this.refuse(socket, route.cluster, errors.noHealthyUpstream);
      return;
    }
    const resilience = clusterResilience(cluster, this.metrics);
    const side = {
      established(): void {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
      },
      refused(error: ProxyError): void {
        socket.end(rawErrorResponse(error));
      },
    };
    const session: TcpProxySession = new TcpProxySession(socket, side, {
      direction: 'inbound',
      cluster,
      breaker: resilience.breaker,
      resilienceStats: resilience.stats,
      metrics: this.streams,
      idleTimeoutMs: TCP_IDLE_TIMEOUT_MS,
      // one local app: a failed connect is answered at once, and the peer tries another endpoint
      maxConnectAttempts: 1,
      early: early.length > 0 ? early : null,
      onDone: (s) => this.sessions.delete(s),
    });
    this.sessions.add(session);
    session.start();
  }

  get size(): number {
    return this.sessions.size;
  }

  destroyAll(): void {
    for (const s of [...this.sessions]) s.destroy();
    this.sessions.clear();
  }
}

function ignore(): void {}
