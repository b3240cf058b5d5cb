// A downstream HTTP/1 request as the data path reads it: the subset of node:http's
// IncomingMessage that the listener, the exchange, the router and telemetry use (http1-api.ts
// checks the subset at compile time), without a Readable stream. The body is pushed by the
// connection's parser; it is buffered only until the exchange listens for it ('data' and 'end'
// are attached together, as a stream's consumer would), and paused reading stops the socket.
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

/** Fields whose repeats node:http drops (the first value wins); others are joined. */
const firstWins = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

/** The header object node:http builds from raw headers (same joining rules), made on first use. */
export function headerObject(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (prev as string[]).push(value);
    else if (!firstWins.has(name)) out[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out as IncomingHttpHeaders;
}

/** How the request's body reaches its reader: flow control towards the socket. */
export interface RequestSource {
  /** The reader cannot take more: stop reading the socket. */
  pauseReading(req: Http1Request): void;
  /** The reader wants more. */
  resumeReading(req: Http1Request): void;
}

/** Bytes buffered for a reader that has not attached yet before the socket stops being read. */
const bufferLimit = 64 * 1024;

export class Http1Request extends EventEmitter {
  url: string;
  readonly method: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly rawHeaders: string[];
  rawTrailers: string[] = [];
  /** The whole message (body and trailers) has been read. */
  complete = false;
  /** The head announced a body (Content-Length above 0, or Transfer-Encoding). */
  hasBody = false;
  /** Set once the connection hands this request to the upgrade or CONNECT handler. */
  upgrade = false;
  private headerCache: IncomingHttpHeaders | null = null;
  private flowing = false;
  private paused = false;
  private buffered: Buffer[] | null = null;
  private bufferedBytes = 0;
  private ended = false;
  private flushScheduled = false;
  /** This request stopped the socket being read (paused, or too much buffered). */
  private holding = false;

  constructor(
    readonly socket: Socket,
    private readonly source: RequestSource,
    method: string,
    url: string,
    rawHeaders: string[],
    versionMajor: number,
    versionMinor: number,
  ) {
    super();
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpVersionMajor = versionMajor;
    this.httpVersionMinor = versionMinor;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  get connection(): Socket {
    return this.socket;
  }

  get headers(): IncomingHttpHeaders {
    return (this.headerCache ??= headerObject(this.rawHeaders));
  }

  /** A 'data' reader starts the flow, on the next tick (its 'end' listener is attached by then). */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data' && !this.flowing) {
      this.flowing = true;
      if (this.buffered !== null || this.ended) this.scheduleFlush();
    }
    return this;
  }

  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  pause(): this {
    if (!this.paused) {
      this.paused = true;
      if (!this.complete) this.hold();
    }
    return this;
  }

  resume(): this {
    if (this.paused) {
      this.paused = false;
      if (this.buffered !== null || this.ended) this.scheduleFlush();
      else this.release();
    }
    return this;
  }

  /** Ends the request's connection (node:http's req.destroy). */
  destroy(): this {
    this.socket.destroy();
    return this;
  }

  /** From the parser: a piece of the body (a view of the socket's read, which is never reused). */
  push(chunk: Buffer): void {
    if (this.flowing && !this.paused && this.buffered === null) {
      this.emit('data', chunk);
      return;
    }
    (this.buffered ??= []).push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > bufferLimit) this.hold();
  }

  /** From the parser: the message is complete (trailers, if any, are set). */
  pushEnd(): void {
    this.complete = true;
    this.ended = true;
    if (this.flowing && !this.paused && this.buffered === null) this.emitEnd();
  }

  /** Stops the socket being read for this request's sake (once, however often asked). */
  private hold(): void {
    if (!this.holding) {
      this.holding = true;
      this.source.pauseReading(this);
    }
  }

  private release(): void {
    if (this.holding) {
      this.holding = false;
      this.source.resumeReading(this);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flush, this);
  }

  /** Delivers what was buffered while nobody read, then the end, unless paused again meanwhile. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.flowing) return;
    const chunks = this.buffered;
    if (chunks !== null) {
      let i = 0;
      while (i < chunks.length && !this.paused) {
        const c = chunks[i++];
        this.bufferedBytes -= c.length;
        this.emit('data', c);
      }
      if (i < chunks.length) {
        chunks.splice(0, i);
        return;
      }
      this.buffered = null;
    }
    if (this.paused) return;
    this.release();
    if (this.ended) this.emitEnd();
  }

  private emitEnd(): void {
    this.ended = false;
    this.emit('end');
  }
}

function flush(req: Http1Request): void {
  req.flush();
}
