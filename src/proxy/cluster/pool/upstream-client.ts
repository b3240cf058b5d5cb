// A small HTTP/1.1 keep-alive client on one raw `net` socket: one request at a time, response
// parsed with Node's own llhttp binding (the parser Node's http client uses). It costs far less
// CPU per request than undici or http.request (shared/PERFORMANCE.md) because it does only what
// a proxy needs: the caller hands it a ready request head and streams bodies both ways.
import net from 'node:net';
import { createRequire } from 'node:module';
import { errors, type ProxyError } from '../../errors.js';
import type { ConnectionLimiter } from '../resilience/circuit-breaker.js';
import { connectTls, type TlsSessionSlot, type UpstreamTlsPolicy } from '../../tls/upstream-tls.js';
import { parseErrorReason } from '../../http/http1-parse-errors.js';
import type { UpstreamStream } from './upstream-stream.js';
import { onlyChunked } from '../../http/transfer-coding.js';
import { releaseParser } from '../../http/http1-parser-release.js';

const require = createRequire(import.meta.url);
// Undocumented but stable since Node 12; Node 20's callbacks: kOnHeaders(headers, url),
// kOnHeadersComplete(major, minor, headers, method, url, status, statusMessage, upgrade,
// keepAlive) returning 1 to skip the body, kOnBody(buffer), kOnMessageComplete().
// execute() and finish() return an Error instead of throwing. With more than 32 header fields
// they arrive through kOnHeaders and kOnHeadersComplete gets `headers` undefined.
// initialize(type, resource, maxHeaderSize, lenientFlags): lenient flags stay 0 (strict llhttp).
const { HTTPParser } = require('_http_common') as { HTTPParser: any };
const kOnMessageBegin: number = HTTPParser.kOnMessageBegin;
const kOnHeaders: number = HTTPParser.kOnHeaders;
const kOnHeadersComplete: number = HTTPParser.kOnHeadersComplete;
const kOnBody: number = HTTPParser.kOnBody;
const kOnMessageComplete: number = HTTPParser.kOnMessageComplete;

/** Receives one response; implemented by the proxy's per-request exchange. */
export interface ResponseSink {
  /** `endsStream`: nothing follows the head (an HTTP/2 HEADERS frame with END_STREAM). */
  onUpstreamHead(status: number, statusMessage: string, rawHeaders: string[], endsStream?: boolean): void;
  /** Returns false to ask the connection to pause until `resume()`. */
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamEnd(rawTrailers: string[] | null): void;
  /**
   * The exchange failed before a complete response. `retryable` is true when the socket came
   * from the idle pool and the peer had closed it before answering anything: the request can
   * go again on a fresh socket if the caller can resend it.
   */
  onUpstreamError(error: ProxyError, detail: string, retryable: boolean): void;
  /**
   * One socket read has been parsed and the response is not complete yet. Sinks may hold the
   * first body chunk until here, so a response that arrives whole is relayed with one write.
   * Returns false to pause, like onUpstreamData.
   */
  onUpstreamFlush(): boolean;
  /** The socket drained after writeBody() returned false. */
  onUpstreamDrain(): void;
}

/** `detail` of a connect failure caused by the connect timeout (compared by identity, not text). */
export const connectTimeoutDetail = 'connect timeout';

export type BodyFraming = 'none' | 'length' | 'chunked';

/** Limits of a response head (the sidecar's --max-header-size and --max-headers). */
export interface ResponseLimits {
  /** Status reason plus header names and values, in bytes (Envoy: max_response_headers_kb, 60 KiB). */
  maxHeaderBytes: number;
  /** Header fields (Envoy: max_response_headers_count, 100). */
  maxHeaders: number;
}

export const defaultResponseLimits: Readonly<ResponseLimits> = Object.freeze({ maxHeaderBytes: 60 * 1024, maxHeaders: 100 });

/**
 * A response that breaks framing fails the exchange with errors.upstreamProtocol and `detail` set
 * to its reason (the `reason` label of trellis_refused_total); the socket is never reused.
 */
function protocolReason(err: { code?: string; reason?: string }): string {
  return 'response-' + parseErrorReason(err);
}


/** What a connection tells its pool. */
export interface ConnectionOwner {
  release(conn: UpstreamConnection): void;
  remove(conn: UpstreamConnection): void;
  /** The connection sent the last request its maxRequests allows (counted where Envoy counts it). */
  maxRequestsReached(): void;
}

const enum State { Connecting, Ready, Closed }

const http1Alpn = ['http/1.1'];

export class UpstreamConnection implements UpstreamStream {
  readonly socket: net.Socket;
  /** Used from the idle pool at least once: a failure may be a keep-alive race. */
  reused = false;
  /** When it went idle, for the pool's idle sweep. */
  idleSince = 0;
  /** The cluster's connection limit this socket counts against, if opened through one. */
  limiter: ConnectionLimiter | null = null;
  /** Requests this socket may carry (the cluster's max_requests_per_connection); 0 = no limit. */
  maxRequests = 0;
  /** Requests sent on it so far. */
  requests = 0;

  private state = State.Connecting;
  private readonly parser: any;
  private sink: ResponseSink | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private framing: BodyFraming = 'none';
  private requestDone = true;
  private responseStarted = false;
  private informational = false;
  private headersDone = false;
  private keepAlive = true;
  private pendingHeaders: string[] | null = null;
  private trailers: string[] | null = null;
  private paused = false;
  private skipBody = false;
  /** Inside parser.execute from onData: a finished exchange is released after it returns. */
  private executing = false;
  /** The response ended during the current execute; release (or discard) once it returns. */
  private completedInRead = false;
  /** A message began with no request outstanding: the upstream is out of step, never reuse. */
  private unsolicited = false;
  private readonly maxHeaders: number;
  /** Speaks TLS; its handshake failures are counted. */
  readonly secure: boolean;
  private tlsFailures: { inc(): void } | null = null;

  constructor(
    private readonly owner: ConnectionOwner,
    host: string,
    port: number,
    connectTimeoutMs: number,
    tls: { policy: UpstreamTlsPolicy; slot: TlsSessionSlot } | null = null,
    limits: ResponseLimits = defaultResponseLimits,
  ) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, limits.maxHeaderBytes, 0);
    this.maxHeaders = limits.maxHeaders;
    parser[kOnMessageBegin] = this.onMessageBegin;
    parser[kOnHeaders] = this.onHeaders;
    parser[kOnHeadersComplete] = this.onHeadersComplete;
    parser[kOnBody] = this.onBody;
    parser[kOnMessageComplete] = this.onMessageComplete;
    this.parser = parser;

    // mTLS to a peer sidecar once this one holds a certificate; plaintext otherwise
    // HTTP/1.1 only: a peer offered h2 goes through the session pool instead
    const secure = tls === null ? null : connectTls(tls.policy, tls.slot, host, port, false, http1Alpn);
    const socket = secure ?? net.connect({ host, port, noDelay: true });
    this.socket = socket;
    this.secure = secure !== null;
    if (secure !== null) this.tlsFailures = tls!.policy.metrics.outboundFailures;
    // writes before the handshake ends are buffered by the TLS socket
    socket.on(secure !== null ? 'secureConnect' : 'connect', this.onConnect);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    if (connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout, connectTimeoutMs);
  }

  get busy(): boolean {
    return this.sink !== null;
  }

  /** True while the socket can carry a new request. */
  get usable(): boolean {
    return this.state !== State.Closed && !this.socket.destroyed && this.socket.writable;
  }

  /**
   * Starts a request: `head` is the complete request head (request line, headers, blank line).
   * With framing 'none' the request is complete after this single write.
   */
  send(head: string, sink: ResponseSink, isHead: boolean, framing: BodyFraming): void {
    this.sink = sink;
    this.framing = framing;
    this.requestDone = framing === 'none';
    this.responseStarted = false;
    this.informational = false;
    this.headersDone = false;
    this.keepAlive = true;
    this.pendingHeaders = null;
    this.trailers = null;
    this.skipBody = isHead;
    if (++this.requests === this.maxRequests) {
      // The last one this socket may carry: say so (RFC 9112 §9.6), so the server closes after
      // answering instead of holding a socket no one will reuse. Hop-by-hop `connection`
      // headers were already removed from the forwarded head.
      head = head.slice(0, -2) + 'connection: close\r\n\r\n';
      this.owner.maxRequestsReached();
    }
    this.socket.write(head, 'latin1');
  }

  /** Returns false when the socket's buffer is full; the sink hears `onUpstreamDrain`. */
  writeBody(chunk: Buffer): boolean {
    if (this.state === State.Closed || chunk.length === 0) return true;
    if (this.framing === 'chunked') {
      const s = this.socket;
      s.cork();
      s.write(chunk.length.toString(16) + '\r\n', 'latin1');
      s.write(chunk);
      const ok = s.write('\r\n', 'latin1');
      s.uncork();
      return ok;
    }
    return this.socket.write(chunk);
  }

  /** Ends the request body; `rawTrailers` only travel with chunked framing. */
  endBody(rawTrailers: string[] | null): void {
    if (this.state === State.Closed || this.requestDone) return;
    this.requestDone = true;
    if (this.framing === 'chunked') {
      let tail = '0\r\n';
      if (rawTrailers) for (let i = 0; i + 1 < rawTrailers.length; i += 2) tail += rawTrailers[i] + ': ' + rawTrailers[i + 1] + '\r\n';
      this.socket.write(tail + '\r\n', 'latin1');
    }
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** The downstream went away or the exchange gave up: the socket cannot be reused. */
  abort(): void {
    this.sink = null;
    this.destroy();
  }

  destroy(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.clearConnectTimer();
    this.socket.destroy();
    releaseParser(this.parser);
    this.owner.remove(this);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  private fail(error: ProxyError, detail: string): void {
    const sink = this.sink;
    this.sink = null;
    const retryable = this.reused && !this.responseStarted && error === errors.upstreamReset;
    this.destroy();
    if (sink !== null) sink.onUpstreamError(error, detail, retryable);
  }

  private finishExchange(): void {
    // Called once both the response is complete and the request fully written.
    if (!this.keepAlive || this.state === State.Closed || (this.maxRequests > 0 && this.requests >= this.maxRequests)) {
      this.destroy();
      return;
    }
    this.resume();
    this.owner.release(this);
  }

  private readonly onConnect = (): void => {
    this.clearConnectTimer();
    if (this.state === State.Connecting) this.state = State.Ready;
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.state === State.Connecting) this.fail(errors.connectTimeout, connectTimeoutDetail);
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.sink === null) {
      // Bytes outside an exchange break framing: never reuse this socket.
      this.destroy();
      return;
    }
    this.responseStarted = true;
    this.executing = true;
    const ret = this.parser.execute(chunk);
    this.executing = false;
    if (this.completedInRead) {
      this.completedInRead = false;
      // Bytes after the complete response in the same read (a second response, or the start of
      // one, for a request never sent): the classic desync; the socket must not carry another
      // request, or those bytes would become the next client's answer.
      if (this.unsolicited || ret instanceof Error) this.destroy();
      else this.finishExchange();
      return;
    }
    if (ret instanceof Error) {
      this.fail(errors.upstreamProtocol, protocolReason(ret as any));
      return;
    }
    const sink = this.sink;
    if (sink !== null && !sink.onUpstreamFlush()) this.pause();
  };

  private readonly onEnd = (): void => {
    if (this.sink !== null) {
      // Responses without a length end at EOF; finish() completes them.
      const ret = this.parser.finish();
      if (ret instanceof Error) {
        // a body cut short by the close is a reset, not a framing violation
        if ((ret as any).code === 'HPE_INVALID_EOF_STATE') this.fail(errors.upstreamReset, 'upstream closed the connection before a complete response');
        else this.fail(errors.upstreamProtocol, protocolReason(ret as any));
        return;
      }
      if (this.sink !== null) this.fail(errors.upstreamReset, 'upstream closed the connection before a complete response');
      return;
    }
    this.destroy();
  };

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    if (this.state === State.Connecting) {
      this.tlsFailures?.inc();
      this.fail(errors.upstreamConnect, err.code ?? err.message);
    }
    else this.fail(errors.upstreamReset, err.code ?? err.message);
  };

  private readonly onClose = (): void => {
    if (this.sink !== null) {
      this.fail(this.state === State.Connecting ? errors.upstreamConnect : errors.upstreamReset, 'connection closed');
      return;
    }
    this.destroy();
  };

  private readonly onDrain = (): void => {
    const sink = this.sink;
    if (sink !== null) sink.onUpstreamDrain();
  };

  private readonly onMessageBegin = (): void => {
    if (this.sink === null) this.unsolicited = true;
  };

  private readonly onHeaders = (headers: string[], _url: string): void => {
    // llhttp flushes long header lists early; after the head they are trailers.
    if (this.headersDone) this.trailers = this.trailers === null ? headers : this.trailers.concat(headers);
    else this.pendingHeaders = this.pendingHeaders === null ? headers : this.pendingHeaders.concat(headers);
  };

  private readonly onHeadersComplete = (
    major: number, _minor: number, headers: string[], _method: unknown, _url: unknown,
    status: number, statusMessage: string, upgrade: boolean, keepAlive: boolean,
  ): number => {
    if (this.pendingHeaders !== null) {
      headers = headers === undefined ? this.pendingHeaders : this.pendingHeaders.concat(headers);
      this.pendingHeaders = null;
    }
    if (this.sink === null) return 1;
    const refused = this.checkHead(major, status, headers);
    if (refused !== null) {
      // failed from inside the parser: destroying the socket ends this read's parsing too
      this.fail(errors.upstreamProtocol, refused);
      return 1;
    }
    if (status < 200) {
      if (status === 101 || upgrade) {
        // Upgrades are not forwarded yet; the request's upgrade header was removed.
        setImmediate(failUpgrade, this);
        return 1;
      }
      this.informational = true;
      return 0;
    }
    this.headersDone = true;
    this.keepAlive = keepAlive;
    const sink = this.sink;
    if (sink !== null) sink.onUpstreamHead(status, statusMessage, headers);
    return this.skipBody ? 1 : 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const sink = this.sink;
    if (sink !== null && !sink.onUpstreamData(chunk)) this.pause();
  };

  private readonly onMessageComplete = (): void => {
    if (this.informational) {
      this.informational = false;
      return;
    }
    const sink = this.sink;
    this.sink = null;
    if (sink !== null) sink.onUpstreamEnd(this.trailers);
    this.trailers = null;
    // An early answer (before the request body was fully sent) leaves the upstream mid-request:
    // the socket cannot carry another request, and holding it for a slow client helps no one.
    if (!this.requestDone) this.destroy();
    // Released once this read is parsed: whatever follows in it must not reach the next request.
    else if (this.executing) this.completedInRead = true;
    else this.finishExchange();
  };

  /** What llhttp accepts but a proxy must not relay; null when the head is fine. */
  private checkHead(major: number, status: number, headers: string[]): string | null {
    // llhttp reads any three digits; below 100 is no HTTP status (it would pass for a 1xx and never end)
    if (major !== 1 || status < 100) return 'response-invalid-start-line';
    if (headers.length > this.maxHeaders * 2) return 'response-too-many-headers';
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      if (n.length === 17 && n.toLowerCase() === 'transfer-encoding' && !onlyChunked(headers[i + 1])) return 'response-invalid-transfer-encoding';
    }
    return null;
  }

  /** Test and debug aid: is the response head in? */
  get responseHeadReceived(): boolean {
    return this.headersDone;
  }

  /** Fails the current exchange from outside, e.g. on upgrade. */
  failWith(error: ProxyError, detail: string): void {
    this.fail(error, detail);
  }
}

function failUpgrade(conn: UpstreamConnection): void {
  conn.failWith(errors.upstreamReset, 'upstream answered with a protocol upgrade');
}
