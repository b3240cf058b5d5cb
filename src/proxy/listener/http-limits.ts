// What an HTTP/1 listener refuses before routing, and how. The parser (llhttp in strict mode)
// already refuses most malformed framing: both Content-Length and Transfer-Encoding, duplicate
// Content-Length, bad chunk sizes, chunk extensions over 16 KiB, obsolete line folding, bare CR
// or LF, NUL and other control bytes, invalid header names, a head over maxHeaderSize. What it
// lets through is checked here, once per request, on the raw header list:
//   - more than maxHeaders header fields (431)
//   - a request line over maxRequestLineBytes (414)
//   - Transfer-Encoding other than exactly `chunked` (`gzip, chunked`, `x` + `chunked` in two
//     headers) or on an HTTP/1.0 request; a missing Host (HTTP/1.1), a second one or an invalid one (400)
//   - an HTTP version other than 1.0 and 1.1 (0.9 and "2.0" over HTTP/1 framing: 505)
// and every refusal is answered (while the client can still read one) with `connection: close`,
// the connection closed after a grace second (Envoy's delayed close) and requests pipelined after
// it dropped, so nothing behind a refused request ever reaches the app. Each refusal is counted in
// trellis_refused_total by reason. Timeouts (header, idle, stream idle) are answered here.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { badRequestError, errorHeader, errors, type ProxyError } from '../errors.js';
import type { ProxyLimits } from '../config/proxy-limits.js';
import type { OverloadGuard } from '../overload/overload-guard.js';
import { parseErrorReason } from '../http/http1-parse-errors.js';
import type { RefusalDirection, RefusalMetrics } from '../telemetry/refusal-metrics.js';
import type { CounterCell } from '../telemetry/metric-families.js';
import { kExchange, type HttpExchange } from './http-exchange.js';
import { onlyChunked } from '../http/transfer-coding.js';
import { maxHeaderListBytes } from './h2-hardening.js';
import type { Http1ServerOptions } from './http1/http1-server.js';
import type { Http1Response } from './http1/http1-response.js';

export interface Refusal {
  /** The `reason` label of trellis_refused_total. */
  readonly reason: string;
  readonly error: ProxyError;
  /** Close the connection after the answer (framing can no longer be trusted). */
  readonly close: boolean;
}

function refusal(reason: string, error: ProxyError, close = true): Refusal {
  return Object.freeze({ reason, error, close });
}

const bad = (message: string): ProxyError => badRequestError(400, message);

/** Refusals decided here or mapped from Node's parser errors. */
export const refusals = Object.freeze({
  headerTooLarge: refusal('header-too-large', badRequestError(431, 'the request head is too large')),
  tooManyHeaders: refusal('too-many-headers', badRequestError(431, 'the request has too many header fields')),
  uriTooLong: refusal('uri-too-long', badRequestError(414, 'the request line is too long')),
  chunkExtensionsTooLarge: refusal('chunk-extensions-too-large', badRequestError(413, 'the chunk extensions are too large')),
  invalidTransferEncoding: refusal('invalid-transfer-encoding', bad('the request has an unsupported or invalid Transfer-Encoding')),
  invalidHost: refusal('invalid-host', bad('the request has a missing, repeated or invalid Host header')),
  httpVersion: refusal('http-version', badRequestError(505, 'only HTTP/1.0 and HTTP/1.1 are served here')),
  /** HTTP/2 only: the stream is refused alone, its connection goes on. */
  h2HeaderListTooLarge: refusal('h2-header-list-too-large', badRequestError(431, 'the request header list is too large')),
  headerTimeout: refusal('header-timeout', errors.requestTimeout),
  /** Memory above the guard's threshold (RSS, or the V8 heap): the connection may stay, the request is shed. */
  overloadMemory: refusal('overload-memory', errors.overloaded, false),
  overloadHeap: refusal('overload-heap', errors.overloaded, false),
  connectionLimit: refusal('connection-limit', errors.overloaded),
  /** A request pipelined behind a refused one on the same connection: dropped, never answered. */
  pipelinedAfterRefusal: refusal('pipelined-after-refusal', errors.badRequest),
});

const byParseReason = new Map<string, Refusal>([
  ['header-too-large', refusals.headerTooLarge],
  ['chunk-extensions-too-large', refusals.chunkExtensionsTooLarge],
]);

/** An HTTP/2 header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 6.5.2). */
function headerListBytes(raw: string[]): number {
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) bytes += raw[i].length + (i % 2 === 0 ? 32 : 0);
  return bytes;
}

function parseRefusal(reason: string): Refusal {
  let r = byParseReason.get(reason);
  if (r === undefined) {
    r = refusal(reason, bad(`the request is malformed (${reason})`));
    byParseReason.set(reason, r);
  }
  return r;
}

/** Marks a connection whose framing is no longer trusted: later requests on it are dropped. */
const kRefused = Symbol('trellis.refused');

/** How long a refused connection stays open for the client to read the answer (Envoy: 1 s). */
export const delayedCloseMs = 1000;

const rawAnswers = new Map<ProxyError, string>();

/** The whole answer as bytes for a socket with no ServerResponse to write through. */
function rawAnswer(e: ProxyError): string {
  let a = rawAnswers.get(e);
  if (a === undefined) {
    a = `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(e.body)}\r\n${errorHeader}: ${e.name}\r\nconnection: close\r\n\r\n${e.body}`;
    rawAnswers.set(e, a);
  }
  return a;
}

const closingHeads = new Map<ProxyError, string[]>();

function closingHead(e: ProxyError): string[] {
  let h = closingHeads.get(e);
  if (h === undefined) {
    h = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(e.body)), errorHeader, e.name, 'connection', 'close'];
    closingHeads.set(e, h);
  }
  return h;
}

/** A Host value: uri-host [":" port] (RFC 3986 characters only); empty is allowed. */
const hostValue = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]*$/;


/**
 * Node reports one overflow for the request line and the headers together; it happened in the
 * request line when the data before the error, back to the last line start, reads like one
 * (method and a space before any colon), or when the read holds no line start and the span did
 * not end at a CR (a header value ends at one). Best effort: a single header value longer than a
 * whole socket read that also contains a space before any colon counts as a long request line.
 */
function overflowInRequestLine(buf: Buffer | undefined, pos: number | undefined): boolean {
  if (buf === undefined || pos === undefined || pos < 0 || pos > buf.length) return false;
  if (pos < buf.length && (buf[pos] === 0x0d || buf[pos] === 0x3a)) return false;
  let i = pos - 1;
  while (i >= 0 && buf[i] !== 0x0a) i--;
  for (let j = i + 1; j < pos; j++) {
    const c = buf[j];
    if (c === 0x3a) return false;
    if (c === 0x20) return true;
  }
  return i < 0;
}

export interface HttpLimitsOptions {
  limits: ProxyLimits;
  direction: RefusalDirection;
  metrics: RefusalMetrics;
  /** The sidecar's connection cap and memory guard; null = none. */
  overload: OverloadGuard | null;
  /** True when a refused connection may be answered in plaintext (not a TLS front). */
  plaintext: () => boolean;
}

export class HttpLimits {
  readonly limits: ProxyLimits;
  private readonly maxRawHeaders: number;
  private readonly idleClosed: CounterCell;

  constructor(private readonly opts: HttpLimitsOptions) {
    this.limits = opts.limits;
    this.maxRawHeaders = opts.limits.maxHeaders * 2;
    this.idleClosed = opts.metrics.idleClosed.cell(opts.direction);
  }

  /** The HTTP/1 server's size limit and timeouts (http1-server.ts). */
  get serverLimits(): Pick<Http1ServerOptions, 'maxHeaderSize' | 'headerTimeoutMs' | 'idleTimeoutMs' | 'streamIdleTimeoutMs'> {
    const l = this.limits;
    return {
      // llhttp counts the request target and every header name and value against this
      maxHeaderSize: l.maxHeaderBytes,
      headerTimeoutMs: l.headerTimeoutMs,
      idleTimeoutMs: l.idleTimeoutMs,
      // the whole request may take as long as it needs while it moves; the stream idle timeout catches a stalled one
      streamIdleTimeoutMs: l.streamIdleTimeoutMs,
    };
  }

  /**
   * A new downstream connection, before anything is read: false when the sidecar is at its
   * connection cap (the connection has been answered 503, or closed when the answer would have to
   * be TLS, and counted).
   */
  admit(socket: Socket): boolean {
    const o = this.opts.overload;
    if (o === null || o.admitConnection(socket)) return true;
    this.count(refusals.connectionLimit.reason);
    // an inbound front without TLS hands the socket on to the HTTP server: drop what it parses
    (socket as any)[kRefused] = true;
    socket.on('error', ignore);
    if (this.opts.plaintext()) closeWithAnswer(socket, refusals.connectionLimit.error);
    else socket.destroy();
    return false;
  }

  /** Null when the request may be routed; otherwise why not. One pass over the raw headers. */
  check(req: http.IncomingMessage): Refusal | null {
    if ((req.socket as any)[kRefused] === true) return refusals.pipelinedAfterRefusal;
    const o = this.opts.overload;
    if (o !== null && o.shedding !== null) return o.shedding === 'memory' ? refusals.overloadMemory : refusals.overloadHeap;
    // HTTP/2 requests come from the h2 server (h2-listener.ts), framed by nghttp2
    if (req.httpVersionMajor !== 1 && !(req.httpVersionMajor === 2 && (req as any).stream !== undefined)) return refusals.httpVersion;
    if (req.url!.length + req.method!.length > this.limits.maxRequestLineBytes) return refusals.uriTooLong;
    const raw = req.rawHeaders;
    // Node enforces the advertised header-list size only once the client has acknowledged it (and
    // then resets the stream itself); a client that never does gets here with a larger list
    if (req.httpVersionMajor === 2 && headerListBytes(raw) > maxHeaderListBytes) return refusals.h2HeaderListTooLarge;
    if (raw.length > this.maxRawHeaders) return refusals.tooManyHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const len = raw[i].length;
      if (len === 4) {
        if (raw[i].toLowerCase() === 'host' && (++hosts > 1 || !hostValue.test(raw[i + 1]))) return refusals.invalidHost;
      } else if (len === 17 && raw[i].toLowerCase() === 'transfer-encoding') {
        if (req.httpVersionMinor === 0 || !onlyChunked(raw[i + 1])) return refusals.invalidTransferEncoding;
      }
    }
    // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400
    if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) return refusals.invalidHost;
    return null;
  }

  /** Answers a request check() refused, counts it, and closes the connection when it must. */
  refuse(req: http.IncomingMessage, res: http.ServerResponse, r: Refusal): void {
    this.count(r.reason);
    // the connection closes once the refused request's answer is out
    if (r === refusals.pipelinedAfterRefusal) return;
    const e = r.error;
    res.sendDate = false;
    // an HTTP/2 stream is refused alone: its connection carries other streams, and has no Connection header
    if (r.close && (req as any).stream === undefined) {
      (req.socket as any)[kRefused] = true;
      res.writeHead(e.status, closingHead(e));
      res.end(e.body);
      delayedDestroy(req.socket);
      return;
    }
    res.writeHead(e.status, ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(e.body)), errorHeader, e.name]);
    res.end(e.body);
  }

  /** Refuses an upgrade request (its socket has left the HTTP server): answer, then close. */
  refuseUpgrade(socket: Duplex, r: Refusal): void {
    this.count(r.reason);
    (socket as any)[kRefused] = true;
    if (r === refusals.pipelinedAfterRefusal || !socket.writable) socket.destroy();
    else closeWithAnswer(socket, r.error);
  }

  /** Counts a malformed response from an upstream (the exchange answers the client 502). */
  refusedResponse(reason: string): void {
    this.count(reason);
  }

  private count(reason: string): void {
    this.opts.metrics.count(this.opts.direction, reason);
  }

  /**
   * The parser refused the bytes (or the header timeout expired); `res` is the response being
   * written on the connection, if any.
   */
  readonly clientError = (err: NodeJS.ErrnoException & { reason?: string; bytesParsed?: number; rawPacket?: Buffer }, socket: Duplex, res: Http1Response | null): void => {
    const code = err.code ?? '';
    if ((socket as any)[kRefused] === true) return; // answered already; the delayed close ends it
    if (code !== 'ERR_HTTP_REQUEST_TIMEOUT' && !code.startsWith('HPE_')) {
      // the client's socket failed (reset, broken pipe): nothing to answer
      socket.destroy();
      return;
    }
    let r: Refusal;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') r = refusals.headerTimeout;
    else if (code === 'HPE_HEADER_OVERFLOW' && overflowInRequestLine(err.rawPacket, err.bytesParsed)) r = refusals.uriTooLong;
    else r = parseRefusal(parseErrorReason(err));
    this.count(r.reason);
    (socket as any)[kRefused] = true;
    if (res !== null) {
      // A request is in flight on this connection (the error is in its body, or in one pipelined
      // after it): answer through its exchange, which also cancels the upstream side.
      const ex = (res as any)[kExchange] as HttpExchange | undefined;
      if (ex !== undefined && !res.headersSent && socket.writable) {
        ex.refuse(r.error);
        delayedDestroy(socket);
      } else {
        socket.destroy();
      }
      return;
    }
    if (socket.writable) closeWithAnswer(socket, r.error);
    else socket.destroy();
  };

  /**
   * The socket was inactive for the stream idle timeout (a request in flight: `res` is the
   * response being written, if any) or the idle timeout (none).
   */
  readonly timeout = (socket: Socket, res: Http1Response | null, requestComplete: boolean): void => {
    if (res === null && requestComplete) {
      this.idleClosed.value++;
      socket.destroy();
      return;
    }
    this.count('stream-idle-timeout');
    (socket as any)[kRefused] = true;
    const ex = res === null ? undefined : ((res as any)[kExchange] as HttpExchange | undefined);
    if (ex !== undefined && !res!.headersSent) {
      // 408 when the client stalled its body, 504 when the upstream stalled its answer
      ex.streamIdle();
      delayedDestroy(socket);
      return;
    }
    socket.destroy();
  };
}

function ignore(): void {}

function destroyNow(socket: Duplex): void {
  socket.destroy();
}

/** Envoy's delayed close: the answer gets a grace second to be read, then the socket goes. */
function delayedDestroy(socket: Duplex): void {
  const t = setTimeout(destroyNow, delayedCloseMs, socket);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

function closeWithAnswer(socket: Duplex, e: ProxyError): void {
  socket.end(rawAnswer(e), 'latin1');
  delayedDestroy(socket);
}
