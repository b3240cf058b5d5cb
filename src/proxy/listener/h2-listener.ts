// The HTTP/2 side of a listener: a node:http2 server (nghttp2 does the framing) that never binds a
// port itself. The listener's front hands it the connections that speak h2: TLS ones whose ALPN
// chose h2, and plaintext ones that opened with the h2c preface (the bytes read to see the
// preface are injected back into the session). Its requests go through the same path as HTTP/1
// ones (router → cluster → balancer → pool) via the compat request/response objects.
import http2 from 'node:http2';
import type net from 'node:net';
import type http from 'node:http';
import { defaultAbuseLimits, h2ServerOptions, serverConnectionWindow, SessionGuard, type H2AbuseLimits, type H2RefusalCounter } from './h2-hardening.js';

const kGuard = Symbol('trellis.h2guard');

export interface H2ListenerOptions {
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  refusals: H2RefusalCounter;
  limits?: H2AbuseLimits;
}

export class H2Listener {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Bytes read from the socket being handed over, injected into its session as it is made. */
  private replay: Buffer | null = null;
  /** The socket being handed over, while its session is made. */
  private accepting: net.Socket | null = null;
  private readonly limits: H2AbuseLimits;

  constructor(private readonly opts: H2ListenerOptions) {
    this.limits = opts.limits ?? defaultAbuseLimits;
    this.server = http2.createServer(h2ServerOptions);
    // The compat objects look enough like node:http's for the shared request path.
    this.server.on('request', opts.onRequest as any);
    this.server.on('session', this.onSession);
    this.server.on('stream', onStream);
  }

  /** A connection that speaks h2; `read` holds what was already read from it (the preface), if not unshifted. */
  accept(socket: net.Socket, read: Buffer | null = null): void {
    // Bytes a detector put back with unshift() sit in the socket's buffer, where nghttp2 (which
    // reads the handle itself) would never see them: they are injected like `read`.
    if (read === null && socket.readableLength > 0) read = socket.read() as Buffer | null;
    this.replay = read;
    this.accepting = socket;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.replay = null;
      this.accepting = null;
    }
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** GOAWAY to every session: streams in flight finish, no new ones start. */
  drain(): void {
    for (const s of this.sessions) if (!s.closed) s.close();
  }

  closeAll(): void {
    for (const s of this.sessions) s.destroy();
  }

  private readonly onSession = (session: http2.ServerHttp2Session): void => {
    const replay = this.replay;
    this.replay = null;
    if (replay !== null && replay.length > 0 && !injectRead(session, replay)) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // Sockets of the listeners are half-open (for tunnels), and HTTP/2 has no half-close: a peer
    // that sent FIN opens no more streams, so the session closes (GOAWAY, streams in flight
    // finish) instead of holding its socket and connection slot until an idle timeout.
    const socket = this.accepting;
    if (socket !== null) socket.once('end', () => closeSession(session));
    (session as any)[kGuard] = new SessionGuard(session, this.limits, this.opts.refusals);
    // errors are counted by the guard; an unhandled 'error' must never end the process
    session.on('error', ignore);
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(serverConnectionWindow);
      } catch {
        // closed meanwhile
      }
    });
  };
}

function closeSession(session: http2.ServerHttp2Session): void {
  if (!session.closed && !session.destroyed) session.close();
}

function onStream(stream: http2.ServerHttp2Stream): void {
  stream.on('aborted', onAborted);
  stream.on('error', ignore);
  const guard = guardOf(stream);
  if (guard === undefined) return;
  guard.streamOpened();
  stream.once('close', onClosed);
}

function guardOf(stream: http2.ServerHttp2Stream): SessionGuard | undefined {
  return (stream.session as any)?.[kGuard] as SessionGuard | undefined;
}

function onClosed(this: http2.ServerHttp2Stream): void {
  guardOf(this)?.streamClosed();
}

/** The client reset a stream before its response was complete (RST_STREAM). */
function onAborted(this: http2.ServerHttp2Stream): void {
  guardOf(this)?.clientReset();
}

/**
 * node:http2 reads the socket itself (nghttp2 consumes the libuv handle), so bytes already read
 * in JavaScript to see the preface would be lost; Node 20's native session can take them back
 * (`receive`, what Node uses internally for data read before a session exists). Not public API:
 * when it is missing the connection is refused rather than corrupted.
 */
function injectRead(session: http2.ServerHttp2Session, data: Buffer): boolean {
  const sym = Object.getOwnPropertySymbols(session).find((s) => s.description === 'kHandle');
  const handle = sym === undefined ? undefined : (session as any)[sym];
  if (handle === undefined || typeof handle.receive !== 'function') return false;
  handle.receive(data);
  return true;
}

function ignore(): void {}
