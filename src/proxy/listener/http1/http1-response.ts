// A downstream HTTP/1 response: the subset of node:http's ServerResponse the data path uses,
// writing straight to the connection's socket. It keeps node:http's framing rules: a body of
// unknown length is chunked for HTTP/1.1 and close-delimited for HTTP/1.0; HEAD, 1xx, 204 and
// 304 carry none; the connection is kept alive only when the request allowed it, the framing
// lets the client find the end and the request was read whole. Header names and values are
// validated as node:http does (writeHead throws), so a value the client could not read safely
// never goes out. The head leaves with the first piece of body in one write.
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Http1Request } from './http1-request.js';

/** What a response needs from its connection. */
export interface ResponseSink {
  /**
   * Writes bytes for `res` (or queues them behind the responses before it); strings are latin1;
   * several pieces go out in one writev. False = wait for 'drain'.
   */
  send(res: Http1Response, data: Buffer | string | Array<Buffer | string>): boolean;
  /** The response is complete: the connection goes on to the next one (or closes). */
  ended(res: Http1Response): void;
  /** Cuts the connection. */
  destroy(): void;
}

const token = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const invalidValueChar = /[^\t\x20-\x7e\x80-\xff]/;
const continueExpectation = /(?:^|\W)100-continue(?:$|\W)/i;
const closeToken = /(?:^|\W)close(?:$|\W)/i;
const chunkedCoding = /(?:^|\W)chunked(?:$|\W)/i;
/** Below this a body is copied next to its head (one write); above, the two go out corked. */
const copyLimit = 16 * 1024;

export function isContinueExpectation(value: string): boolean {
  return continueExpectation.test(value);
}

function invalidHeader(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

function checkName(name: string): void {
  if (!token.test(name)) throw invalidHeader('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
}

function checkValue(name: string, value: string): void {
  if (invalidValueChar.test(value)) throw invalidHeader('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
}

type HeaderInput = readonly string[] | Record<string, string | number | readonly string[] | undefined>;

export class Http1Response extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  /** node:http's flag; a sidecar never adds a Date header of its own. */
  sendDate = false;
  headersSent = false;
  writableEnded = false;
  /** The connection closes after this response (the request or the head said so, or framing needs it). */
  last: boolean;
  /** This response writes to the socket (the ones before it on the connection are done). */
  active = false;
  /** Bytes written while an earlier response on the connection was still going out. */
  queued: Array<Buffer | string> | null = null;
  /** A write returned false: 'drain' is owed. */
  needDrain = false;
  private head = '';
  private chunked = false;
  private hasBody: boolean;
  private trailer = '';
  private pendingHeaders: Map<string, [string, string | string[]]> | null = null;

  constructor(
    private readonly sink: ResponseSink,
    readonly req: Http1Request,
    /** The parser's verdict: the request allows another one after it on this connection. */
    private readonly keepAlive: boolean,
  ) {
    super();
    this.last = !keepAlive;
    this.hasBody = req.method !== 'HEAD';
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.headersSent) throw invalidHeader('ERR_HTTP_HEADERS_SENT', 'Cannot set headers after they are sent to the client');
    (this.pendingHeaders ??= new Map()).set(name.toLowerCase(), [name, Array.isArray(value) ? [...value] : String(value)]);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.pendingHeaders?.get(name.toLowerCase())?.[1];
  }

  /** `writeHead(status[, reason][, headers])`; headers as a flat [name, value, ...] list or an object. */
  writeHead(status: number, reasonOrHeaders?: string | HeaderInput, headers?: HeaderInput): this {
    if (this.headersSent) throw invalidHeader('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent to the client');
    let reason: string | undefined;
    if (typeof reasonOrHeaders === 'string') reason = reasonOrHeaders;
    else headers = reasonOrHeaders;
    if (!Number.isInteger(status) || status < 100 || status > 999) throw invalidHeader('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`);
    reason = reason || STATUS_CODES[status] || 'unknown';
    checkValue('status message', reason);
    this.statusCode = status;
    this.statusMessage = reason;
    this.buildHead(status, reason, headers, -1);
    return this;
  }

  /** A head built at the first write or end without writeHead (node:http's implicit header). */
  private implicitHead(bodyLength: number): void {
    const reason = this.statusMessage || STATUS_CODES[this.statusCode] || 'unknown';
    this.buildHead(this.statusCode, reason, undefined, bodyLength);
  }

  private buildHead(status: number, reason: string, headers: HeaderInput | undefined, knownLength: number): void {
    if (status < 200 || status === 204 || status === 304) this.hasBody = false;
    // Answered before the request's body was read (an error, or an upstream that answered
    // early): the connection closes after it, as Envoy's does, rather than reading a body of any
    // size (or one a client holding back for 100-continue never sends) only to drop it.
    if (this.req.hasBody && !this.req.complete) this.last = true;
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    let contentLength = false;
    let te = false;
    let connection = false;
    const add = (name: string, value: string): void => {
      checkName(name);
      checkValue(name, value);
      head += `${name}: ${value}\r\n`;
      const len = name.length;
      if (len === 14) {
        if (name.toLowerCase() === 'content-length') contentLength = true;
      } else if (len === 17) {
        if (name.toLowerCase() === 'transfer-encoding') {
          te = true;
          if (chunkedCoding.test(value)) this.chunked = true;
        }
      } else if (len === 10 && name.toLowerCase() === 'connection') {
        connection = true;
        if (closeToken.test(value)) this.last = true;
      }
    };
    if (this.pendingHeaders !== null) {
      for (const [name, value] of this.pendingHeaders.values()) {
        if (typeof value === 'string') add(name, value);
        else for (const v of value) add(name, v);
      }
    }
    if (Array.isArray(headers)) {
      const flat = headers as readonly string[];
      if (flat.length % 2 !== 0) throw invalidHeader('ERR_INVALID_ARG_VALUE', 'headers must come as name, value pairs');
      for (let i = 0; i < flat.length; i += 2) add(flat[i], String(flat[i + 1]));
    } else if (headers !== undefined) {
      for (const name of Object.keys(headers)) {
        const v = (headers as Record<string, string | number | readonly string[] | undefined>)[name];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) add(name, String(x));
        else add(name, String(v));
      }
    }
    const http10 = this.req.httpVersionMinor === 0;
    if (!contentLength && !te && this.hasBody) {
      if (knownLength >= 0) {
        head += `content-length: ${knownLength}\r\n`;
        contentLength = true;
      } else if (http10) {
        // no chunked coding in HTTP/1.0: the end of the body is the end of the connection
        this.last = true;
      } else {
        head += 'transfer-encoding: chunked\r\n';
        this.chunked = true;
      }
    }
    if (!connection) {
      if (this.last) head += 'connection: close\r\n';
      // HTTP/1.0 is persistent only when the response says so
      else if (http10) head += 'connection: keep-alive\r\n';
    }
    this.head = head + '\r\n';
    this.headersSent = true;
  }

  writeContinue(): void {
    this.sink.send(this, 'HTTP/1.1 100 Continue\r\n\r\n');
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded) return false;
    if (!this.headersSent) this.implicitHead(-1);
    if (typeof chunk === 'string') chunk = Buffer.from(chunk);
    if (!this.hasBody || chunk.length === 0) return this.flushHead();
    const ok = this.chunked
      ? this.out(this.takeHead() + chunk.length.toString(16) + '\r\n', chunk, '\r\n')
      : this.out(this.takeHead(), chunk, '');
    if (!ok) this.needDrain = true;
    return ok;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    const body = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) this.implicitHead(body === null ? 0 : body.length);
    this.writableEnded = true;
    if (!this.hasBody || body === null || body.length === 0) {
      const tail = this.chunked && this.hasBody ? `0\r\n${this.trailer}\r\n` : '';
      const head = this.takeHead();
      if (head.length > 0 || tail.length > 0) this.sink.send(this, head + tail);
    } else if (this.chunked) {
      this.out(this.takeHead() + body.length.toString(16) + '\r\n', body, `\r\n0\r\n${this.trailer}\r\n`);
    } else {
      this.out(this.takeHead(), body, '');
    }
    this.sink.ended(this);
    return this;
  }

  /** Trailers go out with the last chunk; without chunked framing there is nowhere to put them (dropped, as node:http does). */
  addTrailers(trailers: Record<string, string | readonly string[]> | readonly string[]): void {
    const entries: Array<[string, string]> = [];
    if (Array.isArray(trailers)) {
      const flat = trailers as readonly string[];
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i], flat[i + 1]]);
    } else {
      for (const [k, v] of Object.entries(trailers as Record<string, string | readonly string[]>)) {
        if (Array.isArray(v)) for (const x of v) entries.push([k, String(x)]);
        else entries.push([k, String(v)]);
      }
    }
    for (const [k, v] of entries) {
      checkName(k);
      checkValue(k, v);
      this.trailer += `${k}: ${v}\r\n`;
    }
  }

  destroy(): void {
    this.sink.destroy();
  }

  private flushHead(): boolean {
    const head = this.takeHead();
    return head.length === 0 ? true : this.sink.send(this, head);
  }

  private takeHead(): string {
    const h = this.head;
    this.head = '';
    return h;
  }

  /** prefix (latin1), body, suffix (latin1) in one write: copied together when small, corked when not. */
  private out(prefix: string, body: Buffer, suffix: string): boolean {
    if (body.length <= copyLimit) {
      const buf = Buffer.allocUnsafe(prefix.length + body.length + suffix.length);
      buf.write(prefix, 0, 'latin1');
      body.copy(buf, prefix.length);
      if (suffix.length > 0) buf.write(suffix, prefix.length + body.length, 'latin1');
      return this.sink.send(this, buf);
    }
    return this.sink.send(this, suffix.length > 0 ? [prefix, body, suffix] : [prefix, body]);
  }
}
