// One proxied TCP connection (docs/protocols.md): the cluster's balancer picks an endpoint per
// connection; the sidecar connects to it (mTLS to a peer sidecar with the cluster's TLS policy,
// ALPN http/1.1) within the cluster's connect timeout and, when the listener tunnels, sends an
// HTTP/1.1 CONNECT and waits for its 2xx. A failure on the way there is a connect failure: the
// cluster's outlier detection counts it (consecutive failures eject the endpoint) and the next
// attempt goes to another endpoint, up to max_connect_attempts. Once through, the two sockets
// become a byte pipe (byte-pipe.ts).
//
// The same session serves the inbound end of a tunnel (a CONNECT from a peer, terminated by the
// HTTP listener): there the "downstream" is the peer's tunnel and the endpoint is the local app.
import type { Socket } from 'node:net';
import { errors, type ProxyError } from '../errors.js';
import { isPickError, type Cluster, type PickedEndpoint } from '../cluster/cluster.js';
import type { CircuitBreaker } from '../cluster/resilience/circuit-breaker.js';
import type { ClusterResilienceStats } from '../telemetry/resilience-stats.js';
import type { StreamMetrics } from '../telemetry/stream-metrics.js';
import { BytePipe } from './byte-pipe.js';

/** What the session tells the side that accepted the connection. */
export interface TcpDownstream {
  /** The upstream is connected (and the tunnel established): say so if the protocol needs it (a CONNECT's 200). */
  established(): void;
  /** No upstream could be had: answer if the protocol can (a CONNECT's error status), then close. */
  refused(error: ProxyError): void;
}

export interface TcpSessionOptions {
  direction: 'outbound' | 'inbound';
  cluster: Cluster;
  breaker: CircuitBreaker;
  resilienceStats: ClusterResilienceStats;
  metrics: StreamMetrics;
  idleTimeoutMs: number;
  maxConnectAttempts: number;
  /** Send an HTTP/1.1 CONNECT for this authority before the bytes (a tunnel to a peer sidecar). */
  tunnelHostname?: string;
  /** Bytes the client sent before (and with) its FIN, to send first and then end the upstream. */
  ended?: Buffer | null;
  /** Bytes the client sent early (after a CONNECT head), to send first. */
  early?: Buffer | null;
  /** Told when the session's pipe (or its refusal) is over; tracked listeners drop it then. */
  onDone?: (s: TcpProxySession) => void;
}

/** The most a CONNECT response head may take. */
const maxTunnelHeadBytes = 16 * 1024;

export class TcpProxySession {
  private picked: PickedEndpoint | null = null;
  private lastPicked: PickedEndpoint | null = null;
  private upstream: Socket | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private attemptStart = 0;
  private holdsConnection = false;
  private pipe: BytePipe | null = null;
  private done = false;
  private headBuf: Buffer | null = null;
  /** Hosts this connection already tried (connect failures): the next attempt goes elsewhere. */
  private readonly tried = new Set<PickedEndpoint>();

  constructor(private readonly downstream: Socket, private readonly side: TcpDownstream, private readonly opts: TcpSessionOptions) {
    downstream.pause();
    downstream.on('error', ignore);
    downstream.once('close', this.onDownstreamClose);
  }

  start(): void {
    if (!this.opts.breaker.tryOpenConnection()) {
      this.opts.resilienceStats.rejections.connections.value++;
      this.refuse(errors.overloaded);
      return;
    }
    this.holdsConnection = true;
    this.attempt();
  }

  /** Cuts the connection now (a drain that ran out). */
  destroy(): void {
    if (this.pipe !== null) this.pipe.destroy();
    else {
      this.upstream?.destroy();
      this.downstream.destroy();
    }
  }

  private attempt(): void {
    const cluster = this.opts.cluster;
    let p = cluster.pick(this.lastPicked ?? undefined);
    if (isPickError(p)) {
      this.refuse(this.attempts > 0 ? errors.upstreamConnect : p);
      return;
    }
    if (this.tried.has(p)) {
      // the balancer can hand the same host out again (two hosts under P2C: the cheaper one):
      // a new attempt goes to a pickable host this connection has not tried yet
      const other = cluster.hosts.find((h) => h.pickable && !this.tried.has(h));
      if (other === undefined) {
        this.refuse(errors.upstreamConnect);
        return;
      }
      p = other;
    }
    this.tried.add(p);
    this.attempts++;
    cluster.attemptStarted(p);
    this.picked = p;
    this.attemptStart = Date.now();
    const { socket, secure } = p.pool.openTunnel();
    this.upstream = socket;
    socket.on('error', ignore);
    socket.once(secure ? 'secureConnect' : 'connect', this.onConnect);
    socket.once('close', this.onUpstreamCloseEarly);
    const ms = cluster.config.connectTimeoutMs;
    if (ms > 0) this.connectTimer = setTimeout(this.onConnectTimeout, ms);
  }

  private readonly onConnect = (): void => {
    const host = this.opts.tunnelHostname;
    if (host === undefined) {
      this.established(null);
      return;
    }
    // The tunnel's own handshake counts towards the connect timeout: a peer that accepts but
    // cannot reach its app answers an error status, and that is this endpoint's failure.
    const up = this.upstream!;
    up.write(`CONNECT ${host} HTTP/1.1\r\nhost: ${host}\r\n\r\n`, 'latin1');
    up.on('data', this.onTunnelData);
  };

  private readonly onTunnelData = (chunk: Buffer): void => {
    const buf = this.headBuf === null ? chunk : Buffer.concat([this.headBuf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) {
      if (buf.length > maxTunnelHeadBytes) this.failAttempt();
      else this.headBuf = buf;
      return;
    }
    this.headBuf = null;
    this.upstream!.removeListener('data', this.onTunnelData);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1', 0, Math.min(end, 64)));
    if (status === null || status[1][0] !== '2') {
      this.failAttempt();
      return;
    }
    // bytes after the head are the app's already (a server-speaks-first banner)
    this.established(buf.length > end + 4 ? buf.subarray(end + 4) : null);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    this.opts.resilienceStats.timeouts.connect.value++;
    this.failAttempt();
  };

  private readonly onUpstreamCloseEarly = (): void => {
    if (this.picked !== null) this.failAttempt();
  };

  private readonly onDownstreamClose = (): void => {
    if (this.pipe !== null || this.done) return;
    // the client left before the upstream was there
    this.endAttempt('cancelled');
    this.upstream?.destroy();
    this.finish();
  };

  private failAttempt(): void {
    const up = this.upstream;
    this.upstream = null;
    this.headBuf = null;
    if (up !== null) {
      up.removeListener('close', this.onUpstreamCloseEarly);
      up.destroy();
    }
    this.endAttempt('connect-failure');
    if (this.done || this.downstream.destroyed) {
      this.finish();
      return;
    }
    if (this.attempts < this.opts.maxConnectAttempts) this.attempt();
    else this.refuse(errors.upstreamConnect);
  }

  private established(first: Buffer | null): void {
    const up = this.upstream!;
    up.removeListener('close', this.onUpstreamCloseEarly);
    this.downstream.removeListener('close', this.onDownstreamClose);
    this.endAttempt('success');
    const o = this.opts;
    this.side.established();
    if (first !== null) this.downstream.write(first);
    if (o.early) up.write(o.early);
    const cells = o.metrics.tcpStream(o.direction, o.cluster.name);
    o.metrics.tcpResult(o.direction, o.cluster.name, 'forwarded');
    cells.active.inc();
    if (o.ended) {
      // the client sent its bytes and its FIN before we got here: pass both on
      cells.fromDownstream(o.ended.length);
      up.end(o.ended);
    }
    this.pipe = new BytePipe(this.downstream, up, {
      idleTimeoutMs: o.idleTimeoutMs,
      counters: cells,
      onClose: (how) => {
        cells.closed(how);
        this.finish();
      },
      downstreamEnded: o.ended !== undefined && o.ended !== null,
    });
  }

  private endAttempt(outcome: 'success' | 'connect-failure' | 'cancelled'): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const p = this.picked;
    if (p === null) return;
    this.picked = null;
    this.lastPicked = p;
    this.opts.cluster.attemptEnded(p, outcome, Date.now() - this.attemptStart);
  }

  private refuse(error: ProxyError): void {
    if (this.done) return;
    this.opts.metrics.tcpResult(this.opts.direction, this.opts.cluster.name, error.name);
    this.side.refused(error);
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.holdsConnection) {
      this.holdsConnection = false;
      this.opts.breaker.connectionClosed();
    }
    this.opts.onDone?.(this);
  }
}

function ignore(): void {}
