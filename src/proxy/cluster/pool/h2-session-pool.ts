// HTTP/2 sessions to one endpoint (a peer sidecar over mTLS with ALPN h2, or an h2c app): every
// request is a stream on one of a few sessions. A new session opens only when each open one is
// at the peer's SETTINGS_MAX_CONCURRENT_STREAMS (or going away), and it counts against the
// cluster's connection limit like an HTTP/1.1 socket. A session that received GOAWAY takes no
// new streams and closes once its last one ends; so does one that has carried the cluster's
// maxRequestsPerConnection streams (Envoy's max_requests_per_connection: 1 = a session per
// request), counted as it reaches it. One that does not answer a PING within the keepalive
// timeout is declared dead and destroyed (its streams fail and may be retried); the next request
// simply opens a new one.
import http2 from 'node:http2';
import net from 'node:net';
import type tls from 'node:tls';
import type { ConnectionLimiter } from '../resilience/circuit-breaker.js';
import { connectTls, type TlsSessionSlot, type UpstreamTlsPolicy } from '../../tls/upstream-tls.js';
import type { Http2Options } from '../../config/proxy-config.js';
import { H2UpstreamStream } from './h2-upstream-stream.js';
import { connectTimeoutDetail } from './upstream-client.js';

/** What the session pool needs of its endpoint's pool. */
export interface H2PoolHost {
  readonly address: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly tlsTarget: { policy: UpstreamTlsPolicy; slot: TlsSessionSlot } | null;
  readonly h2Options: Http2Options;
  /** Streams one session may carry in its life; 0 = no limit. Read at every acquire (a lowered limit applies to open sessions). */
  readonly maxRequestsPerConnection: number;
  socketOpened(socket: net.Socket): void;
  /** A session carried its last allowed stream and now drains (the metric Envoy calls upstream_cx_max_requests). */
  maxRequestsReached(): void;
  socketClosed(socket: net.Socket): void;
  /** The last session closed (the endpoint's pool may be waiting to retire). */
  sessionsGone(): void;
}

const h2Alpn = ['h2'];
/** Until the peer's SETTINGS arrive: RFC 9113 recommends allowing at least 100. */
const assumedMaxStreams = 100;

export const defaultHttp2Options: Http2Options = {
  maxConcurrentStreams: 100,
  initialStreamWindowSize: 256 * 1024,
  initialConnectionWindowSize: 1024 * 1024,
  keepaliveIntervalMs: 10_000,
  keepaliveTimeoutMs: 5_000,
};

export class H2Session {
  readonly session: http2.ClientHttp2Session;
  readonly socket: net.Socket;
  /** Streams reserved or open on this session. */
  active = 0;
  /** Streams given out on this session in its life, against maxRequestsPerConnection. */
  started = 0;
  maxStreams = assumedMaxStreams;
  connected = false;
  /** GOAWAY received or sent, or closed: no new streams. */
  closing = false;
  idleSince: number;
  limiter: ConnectionLimiter | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private pingDeadline: NodeJS.Timeout | null = null;
  private gone = false;
  /** Why the session failed, for the streams it takes down. */
  failure: string | null = null;
  /** The identity generation it was made under (-1: plaintext). */
  readonly generation: number;

  constructor(private readonly pool: H2SessionPool, host: H2PoolHost) {
    const opts = host.h2Options;
    const tlsTarget = host.tlsTarget;
    const secure: tls.TLSSocket | null = tlsTarget === null ? null : connectTls(tlsTarget.policy, tlsTarget.slot, host.address, host.port, false, h2Alpn);
    const socket: net.Socket = secure ?? net.connect({ host: host.address, port: host.port, noDelay: true });
    this.socket = socket;
    this.generation = secure === null ? -1 : tlsTarget!.policy.mesh.generation;
    const authority = `${secure !== null ? 'https' : 'http'}://${host.address.includes(':') ? `[${host.address}]` : host.address}:${host.port}`;
    this.session = http2.connect(authority, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: opts.initialStreamWindowSize, maxConcurrentStreams: 0 },
      peerMaxConcurrentStreams: assumedMaxStreams,
      maxSessionMemory: 32,
    });
    this.idleSince = Date.now();
    const s = this.session;
    s.on('connect', this.onConnect);
    s.on('remoteSettings', this.onRemoteSettings);
    s.on('goaway', this.onGoaway);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    socket.on('error', this.onSocketError);
    if (secure !== null) secure.once('secureConnect', () => {
      if (secure.alpnProtocol !== 'h2') this.fail(`the peer does not offer h2 (ALPN ${secure.alpnProtocol || 'none'})`);
    });
    if (host.connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout, host.connectTimeoutMs);
  }

  get available(): boolean {
    return !this.closing && this.active < this.maxStreams;
  }

  /** Closes politely (GOAWAY, streams in flight finish). */
  close(): void {
    this.closing = true;
    if (!this.session.closed && !this.session.destroyed) this.session.close();
    if (this.active === 0) this.session.destroy();
  }

  destroy(): void {
    this.closing = true;
    this.session.destroy();
  }

  /** Reserves a stream slot; the one that reaches `limit` (> 0) is the session's last. */
  take(limit: number): void {
    this.active++;
    this.started++;
    if (limit > 0 && this.started >= limit) this.drain();
  }

  /**
   * Carried its share of streams: no new ones, and it closes once its last ends (idle: now).
   * Like a GOAWAY'd session, so the streams in flight finish.
   */
  drain(): void {
    if (this.closing) return;
    this.closing = true;
    this.pool.host.maxRequestsReached();
    if (this.active === 0) this.session.close();
  }

  /** A stream of this session ended; the pool may hand its slot to a waiting request. */
  streamDone(): void {
    this.active--;
    if (this.active === 0) {
      this.idleSince = Date.now();
      if (this.closing) this.session.destroy();
    }
    if (!this.closing && this.limiter !== null) this.limiter.connectionIdle();
  }

  private fail(reason: string): void {
    this.failure ??= reason;
    this.closing = true;
    this.session.destroy();
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const opts = this.pool.host.h2Options;
    // The stream window is a SETTINGS value; the connection window is raised by a WINDOW_UPDATE.
    try {
      this.session.setLocalWindowSize(opts.initialConnectionWindowSize);
    } catch {
      // the session closed meanwhile
    }
    if (opts.keepaliveIntervalMs > 0) {
      this.pingTimer = setInterval(this.ping, opts.keepaliveIntervalMs);
      this.pingTimer.unref();
    }
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (!this.connected) this.fail(connectTimeoutDetail);
  };

  private readonly onRemoteSettings = (settings: http2.Settings): void => {
    const max = settings.maxConcurrentStreams;
    this.maxStreams = max === undefined ? assumedMaxStreams : Math.min(max, this.pool.host.h2Options.maxConcurrentStreams);
  };

  private readonly ping = (): void => {
    if (this.pingDeadline !== null || this.session.destroyed) return;
    const timeoutMs = this.pool.host.h2Options.keepaliveTimeoutMs;
    try {
      this.session.ping(this.onPingAck);
    } catch {
      return;
    }
    this.pingDeadline = setTimeout(this.onPingTimeout, timeoutMs);
    this.pingDeadline.unref();
  };

  private readonly onPingAck = (err: Error | null): void => {
    if (this.pingDeadline !== null) clearTimeout(this.pingDeadline);
    this.pingDeadline = null;
    if (err !== null && !this.session.destroyed) this.fail(`keepalive ping failed: ${err.message}`);
  };

  private readonly onPingTimeout = (): void => {
    this.pingDeadline = null;
    this.pool.deadSessions++;
    this.fail('keepalive ping not answered');
  };

  private readonly onGoaway = (): void => {
    // Streams above the peer's last stream id were refused (and are safe to retry); the rest finish.
    this.closing = true;
    if (this.active === 0) this.session.destroy();
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.failure ??= err.code ?? err.message;
    this.closing = true;
  };

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.failure ??= err.code ?? err.message;
  };

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    this.closing = true;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.pingDeadline !== null) clearTimeout(this.pingDeadline);
    this.connectTimer = this.pingTimer = this.pingDeadline = null;
    this.pool.sessionClosed(this);
  };
}

export class H2SessionPool {
  private sessions: H2Session[] = [];
  /** Sessions found dead by the keepalive PING (tests, admin). */
  deadSessions = 0;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(readonly host: H2PoolHost) {}

  get size(): number {
    return this.sessions.length;
  }

  /**
   * A stream slot on the first session with room (so streams pack onto few connections), or
   * on a new session when the limiter allows one; null when it does not (the caller waits).
   */
  acquire(limiter: ConnectionLimiter | null, fresh = false): H2UpstreamStream | null {
    if (!fresh) {
      const list = this.sessions;
      const wanted = this.wantedGeneration();
      const limit = this.host.maxRequestsPerConnection;
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (s.generation !== wanted && !s.closing) {
          // made before this sidecar had (or rotated) its certificate: new streams go on a
          // session with the current identity, this one finishes what it carries
          s.close();
          continue;
        }
        if (s.available) {
          if (limit > 0 && s.started >= limit) {
            // the limit was lowered after this session carried more
            s.drain();
            continue;
          }
          s.take(limit);
          return new H2UpstreamStream(s);
        }
      }
    }
    if (limiter !== null && !limiter.tryOpenConnection()) return null;
    const s = new H2Session(this, this.host);
    s.limiter = limiter;
    this.sessions.push(s);
    this.host.socketOpened(s.socket);
    this.startSweep();
    s.take(this.host.maxRequestsPerConnection);
    return new H2UpstreamStream(s);
  }

  /** A new maxRequestsPerConnection: sessions that already carried as many drain (idle ones close now). */
  applyStreamLimit(): void {
    const limit = this.host.maxRequestsPerConnection;
    if (limit <= 0) return;
    for (const s of [...this.sessions]) if (s.started >= limit) s.drain();
  }

  /** The generation a new session would get: the identity's when mTLS applies and a certificate is held. */
  private wantedGeneration(): number {
    const t = this.host.tlsTarget;
    return t === null || t.policy.mesh.secureContext === null ? -1 : t.policy.mesh.generation;
  }

  /** Closes the idle session that waited longest (the breaker makes room for another endpoint). */
  closeOldestIdle(): boolean {
    let oldest: H2Session | null = null;
    for (const s of this.sessions) if (s.active === 0 && !s.closing && (oldest === null || s.idleSince < oldest.idleSince)) oldest = s;
    if (oldest === null) return false;
    oldest.destroy();
    return true;
  }

  /** Idle sessions close now; busy ones take no new streams and close after their last. */
  closeAll(): void {
    for (const s of [...this.sessions]) s.close();
  }

  closeIdle(): void {
    for (const s of [...this.sessions]) if (s.active === 0) s.close();
  }

  destroy(): void {
    for (const s of [...this.sessions]) s.destroy();
    this.stopSweep();
  }

  sessionClosed(s: H2Session): void {
    const i = this.sessions.indexOf(s);
    if (i === -1) return;
    this.sessions.splice(i, 1);
    this.host.socketClosed(s.socket);
    if (s.limiter !== null) s.limiter.connectionClosed();
    if (this.sessions.length === 0) {
      this.stopSweep();
      this.host.sessionsGone();
    }
  }

  private startSweep(): void {
    const ms = this.host.idleTimeoutMs;
    if (this.sweepTimer !== null || ms <= 0) return;
    this.sweepTimer = setInterval(this.sweep, Math.max(250, ms / 4));
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  private readonly sweep = (): void => {
    const cutoff = Date.now() - this.host.idleTimeoutMs;
    for (const s of [...this.sessions]) if (s.active === 0 && s.idleSince <= cutoff) s.close();
  };
}
