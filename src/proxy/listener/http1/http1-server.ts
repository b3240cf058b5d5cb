// The HTTP/1 server of a sidecar listener, on sockets its front accepted (plain, TLS, or handed
// over by interception): node:http's server semantics without its per-request machinery
// (shared/PERFORMANCE.md: 25–30 % of a request's CPU). Its connections' timeouts are checked by
// the process's timeout sweep (http1-timeout-sweep.ts).
import type { Socket } from 'node:net';
import { Http1Connection, type ConnectionHost } from './http1-connection.js';
import type { ParseError } from './http1-parser.js';
import type { Http1Request } from './http1-request.js';
import type { Http1Response } from './http1-response.js';
import { timeoutSweep } from './http1-timeout-sweep.js';

export interface Http1ServerOptions {
  /** The request line and every header name and value together (llhttp counts them). */
  maxHeaderSize: number;
  /** From a message's first byte (or the connection's start) to the end of its head; 0 = none. */
  headerTimeoutMs: number;
  /** No byte in either direction between requests; 0 = none. */
  idleTimeoutMs: number;
  /** No byte in either direction while a request is in flight; 0 = none. */
  streamIdleTimeoutMs: number;
  onRequest(req: Http1Request, res: Http1Response): void;
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void;
  /** CONNECT requests; null = cut (outbound listeners take none). */
  onConnect: ((req: Http1Request, socket: Socket, head: Buffer) => void) | null;
  clientError(err: ParseError, socket: Socket, res: Http1Response | null): void;
  timeout(socket: Socket, res: Http1Response | null, requestComplete: boolean): void;
}

export class Http1Server implements ConnectionHost {
  readonly maxHeaderSize: number;
  readonly onConnect: Http1ServerOptions['onConnect'];
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  closing = false;
  private readonly connections = new Set<Http1Connection>();

  constructor(private readonly opts: Http1ServerOptions) {
    this.maxHeaderSize = opts.maxHeaderSize;
    this.onConnect = opts.onConnect;
    this.headerTimeoutMs = opts.headerTimeoutMs;
    this.idleTimeoutMs = opts.idleTimeoutMs;
    this.streamIdleTimeoutMs = opts.streamIdleTimeoutMs;
  }

  /** Its timeouts join the process's sweep. */
  start(): void {
    this.closing = false;
    timeoutSweep.join(this, [this.headerTimeoutMs, this.idleTimeoutMs, this.streamIdleTimeoutMs]);
  }

  /** A connection the front accepted and the protocol split gave to HTTP/1. */
  accept(socket: Socket): void {
    const c = new Http1Connection(this, socket);
    this.connections.add(c);
    timeoutSweep.add(c);
  }

  /** `res`: the response being written; none for a socket the split timed out before any request. */
  clientError(err: ParseError, socket: Socket, res: Http1Response | null = null): void {
    this.opts.clientError(err, socket, res);
  }

  onRequest(req: Http1Request, res: Http1Response): void {
    this.opts.onRequest(req, res);
  }

  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void {
    this.opts.onUpgrade(req, socket, head);
  }

  timeout(socket: Socket, res: Http1Response | null, requestComplete: boolean): void {
    this.opts.timeout(socket, res, requestComplete);
  }

  forget(conn: Http1Connection): void {
    this.connections.delete(conn);
    timeoutSweep.delete(conn);
  }

  /** Leaves the sweep; connections finish their requests and close after their last response. */
  close(): void {
    this.closing = true;
    timeoutSweep.leave(this);
  }

  closeIdleConnections(): void {
    for (const c of this.connections) if (c.idle) c.socket.destroy();
  }

  closeAllConnections(): void {
    for (const c of this.connections) {
      c.socket.destroy();
      timeoutSweep.delete(c);
    }
    this.connections.clear();
  }
}
