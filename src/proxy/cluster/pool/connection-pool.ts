// Connections to one endpoint. HTTP/1.1: keep-alive sockets, idle ones reused newest first (the
// warmest, least likely to have been closed by the peer), capped in number and closed after an
// idle time shorter than Node's default server keep-alive (5 s) to avoid most close races.
// HTTP/2 (the cluster's upstreamProtocol 'h2'): streams on a few multiplexed sessions
// (h2-session-pool.ts). Either way the caller gets an UpstreamStream.
import net, { type Socket } from 'node:net';
import { UpstreamConnection, type ConnectionOwner, type ResponseLimits } from './upstream-client.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { connectTls, type TlsSessionSlot, type UpstreamTlsPolicy } from '../../tls/upstream-tls.js';
import type { Http2Options, UpstreamProtocol } from '../../config/proxy-config.js';
import { H2SessionPool, defaultHttp2Options, type H2PoolHost } from './h2-session-pool.js';
import type { UpstreamStream } from './upstream-stream.js';

/** Told of each socket the pool opens and closes (bytes are read from it at scrape time). */
export interface ConnectionStats {
  opened(socket: Socket): void;
  closed(socket: Socket): void;
  /** A socket or HTTP/2 session took its last request under maxRequestsPerConnection. */
  maxRequestsReached(): void;
}

export const nullConnectionStats: ConnectionStats = { opened() {}, closed() {}, maxRequestsReached() {} };

export interface ConnectionPoolOptions {
  connectTimeoutMs: number;
  maxIdle?: number;
  idleTimeoutMs?: number;
  stats?: ConnectionStats;
  now?: () => number;
  /** mTLS to this endpoint (a peer sidecar with a certificate); null = plaintext. */
  tls?: UpstreamTlsPolicy | null;
  /** Requests (HTTP/2: streams) one socket or session may carry before it closes (1 = a connection per request); 0 or absent = no limit. */
  maxRequestsPerConnection?: number;
  /** Size and count limits of response heads; Envoy's defaults without. */
  responseLimits?: ResponseLimits;
  /** 'h2': requests are HTTP/2 streams; 'downstream': each request as it came in; absent = HTTP/1.1. */
  protocol?: UpstreamProtocol;
  http2?: Http2Options;
}

const defaultMaxIdle = 128;
export const poolDefaultIdleTimeoutMs = 4000;

export class ConnectionPool implements ConnectionOwner, H2PoolHost {
  readonly key: string;
  connectTimeoutMs: number;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly maxIdle: number;
  private idleMs: number;
  private readonly stats: ConnectionStats;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private retired = false;
  private onEmpty: (() => void) | null = null;
  /** The cluster's breaker once a request went through acquireWithin; counts our sockets. */
  private breaker: CircuitBreaker | null = null;
  tlsTarget: { policy: UpstreamTlsPolicy; slot: TlsSessionSlot } | null = null;
  private maxRequests: number;
  private readonly responseLimits: ResponseLimits | undefined;
  protocol: UpstreamProtocol;
  h2Options: Http2Options;
  /** Created on the first HTTP/2 request. */
  private h2: H2SessionPool | null = null;

  constructor(readonly address: string, readonly port: number, opts: ConnectionPoolOptions) {
    this.key = `${address}:${port}`;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.maxIdle = opts.maxIdle ?? defaultMaxIdle;
    this.idleMs = opts.idleTimeoutMs ?? poolDefaultIdleTimeoutMs;
    this.stats = opts.stats ?? nullConnectionStats;
    this.now = opts.now ?? Date.now;
    this.tls = opts.tls ?? null;
    this.maxRequests = opts.maxRequestsPerConnection ?? 0;
    this.responseLimits = opts.responseLimits;
    this.protocol = opts.protocol ?? 'http1';
    this.h2Options = opts.http2 ?? defaultHttp2Options;
  }

  /** Protocol and HTTP/2 settings from a new cluster config; sessions on the old footing take no new streams. */
  setProtocol(protocol: UpstreamProtocol, http2: Http2Options | undefined): void {
    const h2Options = http2 ?? defaultHttp2Options;
    if (protocol === this.protocol && JSON.stringify(h2Options) === JSON.stringify(this.h2Options)) return;
    this.protocol = protocol;
    this.h2Options = h2Options;
    this.h2?.closeAll();
    this.closeIdle();
  }

  /**
   * Requests per HTTP/1.1 socket or streams per HTTP/2 session; 0 = no limit. Applies to the
   * next request of every socket, new or idle (a lowered limit closes a busy one after its
   * exchange), and at once to HTTP/2 sessions that already carried as many (they drain).
   */
  get maxRequestsPerConnection(): number {
    return this.maxRequests;
  }

  set maxRequestsPerConnection(n: number) {
    if (n === this.maxRequests) return;
    this.maxRequests = n;
    this.h2?.applyStreamLimit();
  }

  maxRequestsReached(): void {
    this.stats.maxRequestsReached();
  }

  get tls(): UpstreamTlsPolicy | null {
    return this.tlsTarget?.policy ?? null;
  }

  /**
   * New connections use this; busy ones finish their exchange as they are, idle ones close so
   * the next request does not go out on the old footing (plaintext to a peer that now has mTLS).
   */
  set tls(policy: UpstreamTlsPolicy | null) {
    if (policy === (this.tlsTarget?.policy ?? null)) return;
    this.tlsTarget = policy === null ? null : { policy, slot: { session: undefined, generation: policy.mesh.generation } };
    this.closeIdle();
    this.h2?.closeAll();
  }

  /**
   * mTLS is wanted and this sidecar now holds a certificate: a plaintext socket opened before it
   * did (the first requests after start-up) must not carry requests any longer.
   */
  private get tlsReady(): boolean {
    const t = this.tlsTarget;
    return t !== null && t.policy.mesh.secureContext !== null;
  }

  private get sessions(): H2SessionPool {
    return (this.h2 ??= new H2SessionPool(this));
  }

  /** A stream for one request outside the breaker's accounting (mirrors), whatever the protocol. */
  acquireStream(fresh = false, downstreamH2 = false): UpstreamStream {
    return this.speaksH2(downstreamH2) ? this.sessions.acquire(null, fresh)! : this.acquire(fresh);
  }

  /** HTTP/2 for this request: the cluster's protocol, or with 'downstream' the request's own. */
  private speaksH2(downstreamH2: boolean): boolean {
    return this.protocol === 'h2' || (this.protocol === 'downstream' && downstreamH2);
  }

  /** An idle HTTP/1.1 connection, or a new one (writes are buffered until it connects). */
  acquire(fresh = false): UpstreamConnection {
    if (!fresh) {
      const conn = this.takeIdle();
      if (conn !== null) return conn;
    }
    const conn = new UpstreamConnection(this, this.address, this.port, this.connectTimeoutMs, this.tlsTarget, this.responseLimits);
    conn.maxRequests = this.maxRequests;
    this.all.add(conn);
    this.stats.opened(conn.socket);
    return conn;
  }

  /**
   * The newest idle socket still fit to carry a request; the others close: broken, plaintext
   * once mTLS is ready, or already past a maxRequestsPerConnection lowered since.
   */
  private takeIdle(): UpstreamConnection | null {
    const idle = this.idle;
    const limit = this.maxRequests;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      const spent = limit > 0 && conn.requests >= limit;
      if (conn.usable && (conn.secure || !this.tlsReady) && !spent) {
        conn.reused = true;
        conn.maxRequests = limit;
        return conn;
      }
      if (spent) this.stats.maxRequestsReached();
      conn.destroy();
    }
    return null;
  }

  /**
   * A connection outside the pool for a byte stream (an upgrade, a TCP tunnel): the endpoint's
   * TLS settings (ALPN http/1.1), half-open allowed, counted with the cluster's connections until
   * it closes, never reused. `secure`: wait for 'secureConnect' rather than 'connect'.
   */
  openTunnel(): { socket: Socket; secure: boolean } {
    const t = this.tlsTarget;
    const secure = t === null ? null : connectTls(t.policy, t.slot, this.address, this.port, true);
    const socket = secure ?? net.connect({ host: this.address, port: this.port, noDelay: true, allowHalfOpen: true });
    const stats = this.stats;
    stats.opened(socket);
    socket.once('close', () => stats.closed(socket));
    return { socket, secure: secure !== null };
  }

  /**
   * Like acquire, but a new socket counts against the cluster's connection limit: null when the
   * limit is reached and no idle socket is left to close, and the caller waits as pending.
   */
  acquireWithin(breaker: CircuitBreaker, fresh = false, downstreamH2 = false): UpstreamStream | null {
    if (this.speaksH2(downstreamH2)) {
      this.trackBreaker(breaker);
      return this.sessions.acquire(breaker, fresh);
    }
    if (!fresh) {
      const conn = this.takeIdle();
      if (conn !== null) return conn;
    }
    this.trackBreaker(breaker);
    if (!breaker.tryOpenConnection()) return null;
    const conn = new UpstreamConnection(this, this.address, this.port, this.connectTimeoutMs, this.tlsTarget, this.responseLimits);
    conn.maxRequests = this.maxRequests;
    conn.limiter = breaker;
    this.all.add(conn);
    this.stats.opened(conn.socket);
    return conn;
  }

  private trackBreaker(breaker: CircuitBreaker): void {
    if (this.breaker !== breaker) {
      this.breaker?.untrack(this);
      this.breaker = breaker;
      breaker.track(this);
    }
  }

  socketOpened(socket: Socket): void {
    this.stats.opened(socket);
  }

  socketClosed(socket: Socket): void {
    this.stats.closed(socket);
  }

  sessionsGone(): void {
    if (this.all.size === 0) this.emptied();
  }

  release(conn: UpstreamConnection): void {
    if (this.retired || this.idle.length >= this.maxIdle || !conn.usable) {
      conn.destroy();
      return;
    }
    conn.idleSince = this.now();
    this.idle.push(conn);
    if (this.sweepTimer === null && this.idleMs > 0) {
      this.sweepTimer = setInterval(this.sweep, Math.max(250, this.idleMs / 4));
      this.sweepTimer.unref();
    }
    if (conn.limiter !== null) conn.limiter.connectionIdle();
  }

  /** Closes the idle socket (or HTTP/2 session) that waited longest; false when none is idle. */
  closeOldestIdle(): boolean {
    if (this.idle.length === 0) return this.h2 !== null && this.h2.closeOldestIdle();
    this.idle.shift()!.destroy();
    return true;
  }

  remove(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    this.stats.closed(conn.socket);
    if (conn.limiter !== null) conn.limiter.connectionClosed();
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.all.size === 0) {
      this.stopSweep();
      if (this.h2 === null || this.h2.size === 0) this.emptied();
    }
  }

  private emptied(): void {
    if (this.retired && this.breaker !== null) {
      this.breaker.untrack(this);
      this.breaker = null;
    }
    const cb = this.onEmpty;
    this.onEmpty = null;
    if (cb) cb();
  }

  /** Open HTTP/1.1 sockets plus HTTP/2 sessions. */
  get size(): number {
    return this.all.size + (this.h2?.size ?? 0);
  }

  /** Open HTTP/2 sessions (tests, admin). */
  get h2Sessions(): number {
    return this.h2?.size ?? 0;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * The endpoint left the cluster: idle sockets close now, busy ones once their exchange ends.
   * Resolves when the last socket is gone.
   */
  retire(): Promise<void> {
    this.retired = true;
    this.closeIdle();
    this.h2?.closeAll();
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onEmpty = resolve;
    });
  }

  closeIdle(): void {
    while (this.idle.length > 0) this.idle.pop()!.destroy();
    this.h2?.closeIdle();
  }

  /** Closes everything at once, in-flight exchanges included (they fail with upstream-reset). */
  destroy(): void {
    this.retired = true;
    for (const conn of [...this.all]) conn.destroy();
    this.h2?.destroy();
    this.stopSweep();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  /**
   * Idle sockets older than this close. The cluster's `idleTimeoutMs` (Envoy's default is 1 h)
   * can only shorten the pool's own limit: peers close keep-alives after ~5 s, and reusing a
   * socket they are closing is the race this limit avoids.
   */
  get idleTimeoutMs(): number {
    return this.idleMs;
  }

  set idleTimeoutMs(ms: number) {
    this.idleMs = ms;
    if (this.sweepTimer !== null) {
      this.stopSweep();
      if (this.idle.length > 0 && ms > 0) {
        this.sweepTimer = setInterval(this.sweep, Math.max(250, ms / 4));
        this.sweepTimer.unref();
      }
    }
  }

  /** Closes the sockets idle for longer than idleTimeoutMs; the sweep timer runs this. */
  sweepIdle(): void {
    this.sweep();
  }

  private readonly sweep = (): void => {
    const cutoff = this.now() - this.idleMs;
    // Oldest first: the array is in release order.
    while (this.idle.length > 0 && this.idle[0].idleSince <= cutoff) this.idle.shift()!.destroy();
    if (this.idle.length === 0) this.stopSweep();
  };
}
