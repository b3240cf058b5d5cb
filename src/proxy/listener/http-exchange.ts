// One proxied request: downstream request → upstream connection → downstream response. The
// object is the upstream connection's ResponseSink and the target of the downstream's events
// (reached through a symbol on req/res), so no closure is created per request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type ProxyError } from '../errors.js';
import type { BodyFraming, ResponseSink, UpstreamConnection } from '../cluster/pool/upstream-client.js';
import type { ConnectionPool } from '../cluster/pool/connection-pool.js';
import type { AttemptOutcome, Cluster, PickedEndpoint } from '../cluster/cluster.js';
import type { RouteStats } from '../telemetry/metrics.js';
import { responseHeaders, trailerObject } from '../http/forward-headers.js';

export const kExchange = Symbol('trellis.exchange');

/** What the exchange needs from its listener. */
export interface ExchangeHost {
  readonly draining: boolean;
  respondError(res: ServerResponse, error: ProxyError): void;
  exchangeDone(ex: HttpExchange): void;
}

/** Status recorded when the downstream left before its response was complete. */
export const downstreamClosedStatus = 499;

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class HttpExchange implements ResponseSink {
  private conn: UpstreamConnection | null = null;
  private retried = false;
  private finished = false;
  private timer: NodeJS.Timeout | null = null;
  private watchingResDrain = false;
  /** First body chunk, held until the read that carried it is parsed (see onUpstreamFlush). */
  private pending: Buffer | null = null;
  private wroteBody = false;
  private readonly isHead: boolean;
  private readonly pool: ConnectionPool;

  constructor(
    private readonly host: ExchangeHost,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly cluster: Cluster,
    private readonly picked: PickedEndpoint,
    private readonly head: string,
    private readonly framing: BodyFraming,
    private readonly stats: RouteStats,
    private readonly startNs: bigint,
    timeoutMs: number,
  ) {
    this.isHead = req.method === 'HEAD';
    this.pool = picked.pool;
    (req as any)[kExchange] = this;
    (res as any)[kExchange] = this;
    res.on('close', onResClose);
    if (timeoutMs > 0) this.timer = setTimeout(onTimeout, timeoutMs, this);
  }

  start(): void {
    this.cluster.attemptStarted(this.picked);
    const conn = this.pool.acquire();
    this.conn = conn;
    conn.send(this.head, this, this.isHead, this.framing);
    if (this.framing !== 'none') {
      this.req.on('data', onReqData);
      this.req.on('end', onReqEnd);
    }
  }

  onUpstreamHead(status: number, statusMessage: string, rawHeaders: string[]): void {
    if (this.finished) return;
    const res = this.res;
    try {
      res.writeHead(status, statusMessage, responseHeaders(rawHeaders, this.host.draining) as any);
    } catch {
      // Node refused a header (invalid characters): the upstream's answer cannot be relayed.
      this.abortUpstream();
      this.fail(errors.upstreamReset);
    }
  }

  onUpstreamData(chunk: Buffer): boolean {
    if (this.finished) return true;
    if (!this.wroteBody && this.pending === null) {
      this.pending = chunk;
      return true;
    }
    return this.write(chunk);
  }

  onUpstreamFlush(): boolean {
    return this.finished ? true : this.write(null);
  }

  private write(chunk: Buffer | null): boolean {
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      this.wroteBody = true;
      if (chunk === null) chunk = pending;
      else if (!this.res.write(pending)) {
        // Keep order; the new chunk still goes out, backpressure is reported below.
        this.res.write(chunk);
        return this.watchDrain();
      }
    }
    if (chunk === null) return true;
    this.wroteBody = true;
    if (this.res.write(chunk)) return true;
    return this.watchDrain();
  }

  private watchDrain(): boolean {
    if (!this.watchingResDrain) {
      this.watchingResDrain = true;
      this.res.on('drain', onResDrain);
    }
    return false;
  }

  onUpstreamEnd(rawTrailers: string[] | null): void {
    if (this.finished) return;
    this.conn = null;
    const res = this.res;
    if (rawTrailers !== null && rawTrailers.length > 0) {
      try {
        res.addTrailers(trailerObject(rawTrailers));
      } catch {
        // Trailers Node will not send (e.g. without chunked framing) are dropped, not fatal.
      }
    }
    const pending = this.pending;
    this.pending = null;
    // A response that came whole leaves with the head in one write.
    if (pending !== null) res.end(pending);
    else res.end();
    this.finish(res.statusCode, null);
  }

  onUpstreamError(error: ProxyError, _detail: string, retryable: boolean): void {
    if (this.finished) return;
    this.conn = null;
    // A keep-alive socket the peer had already closed: go once more on a fresh socket when the
    // request can be sent again unchanged and repeating it is harmless.
    if (retryable && !this.retried && this.framing === 'none' && idempotent.has(this.req.method ?? '')) {
      this.retried = true;
      const conn = this.pool.acquire(true);
      this.conn = conn;
      conn.send(this.head, this, this.isHead, this.framing);
      return;
    }
    this.fail(error);
  }

  onUpstreamDrain(): void {
    this.req.resume();
  }

  /** The route timeout fired. */
  timeout(): void {
    this.timer = null;
    if (this.finished) return;
    this.abortUpstream();
    this.fail(errors.timeout);
  }

  /** The downstream connection closed; if the response was not complete, cancel upstream. */
  downstreamClosed(): void {
    if (this.finished) return;
    this.abortUpstream();
    this.finish(downstreamClosedStatus, null);
  }

  resumeUpstream(): void {
    if (this.conn !== null) this.conn.resume();
  }

  writeBody(chunk: Buffer): void {
    const conn = this.conn;
    if (conn !== null && !conn.writeBody(chunk)) this.req.pause();
  }

  endBody(): void {
    const conn = this.conn;
    if (conn !== null) conn.endBody(this.framing === 'chunked' && this.req.rawTrailers.length > 0 ? this.req.rawTrailers : null);
  }

  private abortUpstream(): void {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.abort();
  }

  private fail(error: ProxyError): void {
    const res = this.res;
    if (!res.headersSent) {
      this.host.respondError(res, error);
    } else {
      // Mid-response there is no way to signal an error in HTTP/1.1 but to cut the connection.
      res.destroy();
    }
    this.finish(error.status, error);
  }

  private finish(status: number, error: ProxyError | null): void {
    this.finished = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.framing !== 'none') {
      this.req.removeListener('data', onReqData);
      this.req.removeListener('end', onReqEnd);
    }
    const seconds = Number(process.hrtime.bigint() - this.startNs) / 1e9;
    this.cluster.attemptEnded(this.picked, attemptOutcome(status, error), seconds * 1000);
    this.stats.record(status, error, seconds);
    this.host.exchangeDone(this);
  }
}

/** How the attempt went for outlier detection and the balancer's RTT estimate. */
function attemptOutcome(status: number, error: ProxyError | null): AttemptOutcome {
  if (error === errors.upstreamConnect) return 'connect-failure';
  if (error === errors.upstreamReset) return 'reset';
  if (error === errors.timeout) return 'timeout';
  if (status === downstreamClosedStatus) return 'cancelled';
  return status >= 500 ? 'http-5xx' : 'success';
}

function onTimeout(ex: HttpExchange): void {
  ex.timeout();
}

function onResClose(this: ServerResponse): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.downstreamClosed();
}

function onResDrain(this: ServerResponse): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.resumeUpstream();
}

function onReqData(this: IncomingMessage, chunk: Buffer): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.writeBody(chunk);
}

function onReqEnd(this: IncomingMessage): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.endBody();
}
