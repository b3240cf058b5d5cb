// One bidirectional gRPC call over Node's built-in HTTP/2. The sidecar must stay small
// (shared/PERFORMANCE.md): @grpc/grpc-js costs ~18 MB, and an ADS stream needs only the framing,
// the request headers and the status from the trailers.
import http2 from 'node:http2';
import { defaultMaxMessageBytes, encodeGrpcFrame, GrpcFrameDecoder } from './grpc-framing.js';
import { decodeGrpcMessage, grpcStatus, type GrpcEndReason } from './grpc-status.js';
import { grpcStatusFromHttp } from '../../common/grpc-codes.js';

export interface GrpcStreamOptions {
  /** host:port of the server ([v6]:port for IPv6). */
  authority: string;
  /** e.g. /envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources */
  path: string;
  maxMessageBytes?: number;
  connectTimeoutMs?: number;
  /** HTTP/2 PING period that detects a silently vanished server; 0 disables. */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
  /** Extra request headers (gRPC metadata), e.g. authorization. */
  metadata?: Record<string, string>;
}

export interface GrpcStreamHandlers {
  /** The HTTP/2 connection is up (the call itself may still fail). */
  onConnect?(): void;
  /** The server accepted the call: its response headers (gRPC initial metadata). */
  onHeaders?(headers: http2.IncomingHttpHeaders): void;
  onMessage(message: Buffer): void;
  /** Called exactly once, after the last onMessage. */
  onEnd(reason: GrpcEndReason): void;
}

export class GrpcStream {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly handlers: GrpcStreamHandlers;
  private readonly decoder: GrpcFrameDecoder;
  private status: GrpcEndReason | undefined;
  private transportError: string | undefined;
  private ended = false;
  private readEnded = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(opts: GrpcStreamOptions, handlers: GrpcStreamHandlers) {
    this.handlers = handlers;
    this.decoder = new GrpcFrameDecoder(opts.maxMessageBytes ?? defaultMaxMessageBytes);
    this.session = http2.connect(`http://${opts.authority}`);
    this.session.on('error', (err) => this.noteTransportError(err.message));
    this.session.on('close', () => this.finish());
    this.session.once('connect', () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.startKeepalive(opts.keepaliveMs ?? 30_000, opts.keepaliveTimeoutMs ?? 10_000);
      if (!this.ended) this.handlers.onConnect?.();
    });
    const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.connectTimer = setTimeout(() => this.abort(grpcStatus.unavailable, `connect timeout after ${connectTimeoutMs} ms`), connectTimeoutMs);

    this.stream = this.session.request({
      ':method': 'POST',
      ':path': opts.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'trellis-xds',
      ...opts.metadata,
    }, { endStream: false });
    this.stream.on('response', (headers) => this.onResponse(headers));
    this.stream.on('trailers', (trailers) => this.noteStatus(trailers));
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (err) => this.noteTransportError(err.message));
    // The server's END_STREAM ends the call even though our side is still open for writing.
    this.stream.on('end', () => {
      this.readEnded = true;
      this.finish();
    });
    this.stream.on('close', () => this.finish());
  }

  /** Queues one message; returns false once the call has ended. */
  write(message: Uint8Array): boolean {
    if (this.ended || this.stream.closed || this.stream.writableEnded) return false;
    this.stream.write(encodeGrpcFrame(message));
    return true;
  }

  /** Ends the call from our side; onEnd reports CANCELLED. */
  cancel(): void {
    this.abort(grpcStatus.cancelled, 'cancelled by client');
  }

  private onResponse(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    const httpStatus = Number(headers[':status']);
    if (httpStatus !== 200) {
      this.abort(grpcStatusFromHttp(httpStatus), `HTTP status ${httpStatus}`);
      return;
    }
    // A trailers-only response (an immediate error) carries grpc-status in the headers.
    if (headers['grpc-status'] !== undefined) {
      this.noteStatus(headers);
      return;
    }
    const contentType = String(headers['content-type'] ?? '');
    if (!contentType.startsWith('application/grpc')) {
      this.abort(grpcStatus.unknown, `unexpected content-type "${contentType}"`);
      return;
    }
    if (!this.ended) this.handlers.onHeaders?.(headers);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    const result = this.decoder.push(chunk);
    if (!result.ok) {
      this.abort(result.code === 'oversize' ? grpcStatus.resourceExhausted : grpcStatus.internal, result.error);
      return;
    }
    for (const message of result.messages) {
      if (this.ended) return;
      this.handlers.onMessage(message);
    }
  }

  private noteStatus(headers: http2.IncomingHttpHeaders): void {
    const raw = headers['grpc-status'];
    const code = Number(Array.isArray(raw) ? raw[0] : raw);
    this.status = Number.isInteger(code)
      ? { code, message: decodeGrpcMessage(headers['grpc-message']) }
      : { code: grpcStatus.unknown, message: `invalid grpc-status "${String(raw)}"` };
  }

  private noteTransportError(message: string): void {
    this.transportError ??= message;
    this.finish();
  }

  private startKeepalive(periodMs: number, timeoutMs: number): void {
    if (periodMs <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (this.pingTimer || this.ended) return;
      this.pingTimer = setTimeout(() => this.abort(grpcStatus.unavailable, `keepalive ping not answered within ${timeoutMs} ms`), timeoutMs);
      const sent = this.session.ping((err) => {
        if (this.pingTimer) clearTimeout(this.pingTimer);
        this.pingTimer = undefined;
        if (err && !this.ended) this.abort(grpcStatus.unavailable, `keepalive ping failed: ${err.message}`);
      });
      if (!sent) {
        clearTimeout(this.pingTimer);
        this.pingTimer = undefined;
      }
    }, periodMs);
    this.keepaliveTimer.unref();
  }

  private abort(code: number, message: string): void {
    if (this.ended) return;
    this.status = { code, message };
    this.end();
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.session.destroy();
  }

  /** The stream or the connection closed: report the status the server gave, else why the transport failed. */
  private finish(): void {
    if (this.ended) return;
    // Wait for the stream's close when the connection failed first, so that trailers that did
    // arrive are preferred over the connection's error.
    if (!this.readEnded && !this.stream.closed && !this.session.destroyed && this.transportError === undefined) return;
    if (!this.status) {
      const rst = this.stream.rstCode;
      this.status = {
        code: grpcStatus.unavailable,
        message: this.transportError ?? (rst ? `stream reset by server (HTTP/2 code ${rst})` : 'stream ended without grpc-status'),
      };
    }
    this.end();
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
    this.session.destroy();
  }

  private end(): void {
    this.ended = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    if (this.pingTimer) clearTimeout(this.pingTimer);
    const status = this.status ?? { code: grpcStatus.unknown, message: 'ended' };
    this.handlers.onEnd(status);
  }
}
