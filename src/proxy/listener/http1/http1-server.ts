// The HTTP/1 server of a sidecar listener, on sockets its front accepted (plain, TLS, or handed
// over by interception): node:http's server semantics without its per-request machinery
// (shared/PERFORMANCE.md: 25–30 % of a request's CPU). One sweep per server checks the header,
// idle and stream idle timeouts of every connection against a coarse clock, instead of timers
// re-armed on each request.
import type { Socket } from 'node:net';
import { Http1Connection, type ConnectionHost } from './http1-connection.js';
import type { ParseError } from './http1-parser.js';
import type { Http1Request } from './http1-request.js';
import type { Http1Response } from './http1-response.js';

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
  now = Date.now();
  closing = false;
  private readonly connections = new Set<Http1Connection>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(private readonly opts: Http1ServerOptions) {
    this.maxHeaderSize = opts.maxHeaderSize;
    this.onConnect = opts.onConnect;
  }

  get headersTimeout(): number {
    return this.opts.headerTimeoutMs;
  }

  /** Starts the timeout sweep; a quarter of the shortest timeout, between 50 ms and 1 s. */
  start(): void {
    if (this.sweep !== null) return;
    const o = this.opts;
    const shortest = Math.min(...[o.headerTimeoutMs, o.idleTimeoutMs, o.streamIdleTimeoutMs].filter((t) => t > 0), 4000);
    this.closing = false;
    this.sweep = setInterval(this.check, Math.max(50, Math.min(1000, Math.floor(shortest / 4))));
    this.sweep.unref();
  }

  /** A connection the front accepted and the protocol split gave to HTTP/1. */
  accept(socket: Socket): void {
    this.now = Date.now();
    this.connections.add(new Http1Connection(this, socket));
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
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops the sweep; connections finish their requests and close after their last response. */
  close(): void {
    this.closing = true;
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
  }

  closeIdleConnections(): void {
    for (const c of this.connections) if (c.idle) c.socket.destroy();
  }

  closeAllConnections(): void {
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
  }

  private readonly check = (): void => {
    const now = (this.now = Date.now());
    const o = this.opts;
    for (const c of this.connections) c.checkTimeouts(now, o.headerTimeoutMs, o.idleTimeoutMs, o.streamIdleTimeoutMs);
  };
}
