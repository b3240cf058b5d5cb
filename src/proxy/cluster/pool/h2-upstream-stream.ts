// One request as an HTTP/2 stream on a pooled session. It takes the HTTP/1.1 head the data path
// built (h2-headers.ts turns it into HTTP/2 headers) and reports to the exchange's ResponseSink
// exactly like an HTTP/1.1 connection: head, data, trailers, end or error. Aborting sends
// RST_STREAM(CANCEL), so the server sees the cancellation (gRPC relies on it).
import http2 from 'node:http2';
import { errors, type ProxyError } from '../../errors.js';
import { h2RequestHeaders, rawFromObject, rawWithoutPseudo } from '../../http/h2-headers.js';
import { connectTimeoutDetail, type BodyFraming, type ResponseSink } from './upstream-client.js';
import type { H2Session } from './h2-session-pool.js';
import type { UpstreamStream } from './upstream-stream.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = http2.constants;

export class H2UpstreamStream implements UpstreamStream {
  private stream: http2.ClientHttp2Stream | null = null;
  private sink: ResponseSink | null = null;
  private released = false;
  private gotResponse = false;
  private trailers: string[] | null = null;
  private requestTrailers: string[] | null = null;
  private paused = false;

  constructor(private readonly owner: H2Session) {}

  send(head: string, sink: ResponseSink, _isHead: boolean, framing: BodyFraming): void {
    this.sink = sink;
    const s = this.owner.session;
    let stream: http2.ClientHttp2Stream;
    try {
      if (s.destroyed || s.closed) throw Object.assign(new Error('session closed'), { code: this.owner.failure ?? 'ERR_HTTP2_INVALID_SESSION' });
      stream = s.request(h2RequestHeaders(head, 'http'), { endStream: framing === 'none', waitForTrailers: framing === 'chunked' });
    } catch (err) {
      // Headers Node refuses, or a session that just closed: fail after the caller's send() returns.
      const e = err as NodeJS.ErrnoException;
      process.nextTick(failLater, this, e.code === 'ERR_HTTP2_INVALID_SESSION' || e.code === 'ERR_HTTP2_GOAWAY_SESSION', e.code ?? e.message);
      return;
    }
    this.stream = stream;
    stream.on('response', this.onResponse);
    stream.on('trailers', this.onTrailers);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
    stream.on('drain', this.onDrain);
    if (framing === 'chunked') stream.on('wantTrailers', this.onWantTrailers);
  }

  writeBody(chunk: Buffer): boolean {
    const st = this.stream;
    if (st === null || st.destroyed || chunk.length === 0) return true;
    return st.write(chunk);
  }

  endBody(rawTrailers: string[] | null): void {
    const st = this.stream;
    if (st === null || st.destroyed || st.writableEnded) return;
    this.requestTrailers = rawTrailers;
    st.end();
  }

  pause(): void {
    if (!this.paused && this.stream !== null) {
      this.paused = true;
      this.stream.pause();
    }
  }

  resume(): void {
    if (this.paused && this.stream !== null) {
      this.paused = false;
      this.stream.resume();
    }
  }

  abort(): void {
    this.sink = null;
    const st = this.stream;
    if (st !== null && !st.closed && !st.destroyed) st.close(NGHTTP2_CANCEL);
    if (st === null) this.release();
  }

  /** Fails before any stream existed (see send). */
  failEarly(refused: boolean, detail: string): void {
    this.release();
    const sink = this.sink;
    this.sink = null;
    if (sink !== null) sink.onUpstreamError(this.owner.connected ? errors.upstreamReset : errors.upstreamConnect, detail, refused);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.streamDone();
  }

  private fail(error: ProxyError, detail: string, retryable: boolean): void {
    const sink = this.sink;
    this.sink = null;
    if (sink !== null) sink.onUpstreamError(error, detail, retryable);
  }

  private readonly onResponse = (headers: http2.IncomingHttpHeaders, flags: number, rawHeaders?: string[]): void => {
    const sink = this.sink;
    if (sink === null) return;
    this.gotResponse = true;
    const raw = rawHeaders !== undefined ? rawWithoutPseudo(rawHeaders) : rawFromObject(headers as Record<string, string>);
    sink.onUpstreamHead(Number(headers[':status']), '', raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    // Read the body only now: node:http2 emits 'response' on the next tick but pushes DATA that
    // came in the same read (one TLS record) at once, so a stream flowing from the start hands
    // the body over before its head (the HTTP/1 side then sent an implicit head and cut the
    // connection when the real one came).
    this.stream?.on('data', this.onData);
  };

  private readonly onData = (chunk: Buffer): void => {
    const sink = this.sink;
    if (sink === null) return;
    // No read boundaries to wait for: each DATA frame is relayed as it comes.
    if (!sink.onUpstreamData(chunk) || !sink.onUpstreamFlush()) this.pause();
  };

  private readonly onTrailers = (headers: http2.IncomingHttpHeaders): void => {
    this.trailers = rawFromObject(headers as Record<string, string>);
  };

  private readonly onEnd = (): void => {
    // A stream can end without a response when its session goes down: that is a failure.
    if (!this.gotResponse) {
      this.failFromStream(this.owner.failure ?? 'stream ended before a response');
      return;
    }
    const sink = this.sink;
    this.sink = null;
    if (sink !== null) sink.onUpstreamEnd(this.trailers);
    const st = this.stream;
    // An answer before the request body was complete: tell the server to stop reading it.
    if (st !== null && !st.writableEnded && !st.closed) st.close(NGHTTP2_NO_ERROR);
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.failFromStream(err.code ?? err.message);
  };

  private readonly onClose = (): void => {
    this.failFromStream(this.owner.failure ?? `stream closed (code ${this.stream?.rstCode ?? 0})`);
    this.release();
  };

  private failFromStream(detail: string): void {
    if (this.sink === null) return;
    const st = this.stream;
    const refused = st !== null && st.rstCode === NGHTTP2_REFUSED_STREAM;
    if (!this.owner.connected) {
      if (this.owner.failure === connectTimeoutDetail) this.fail(errors.connectTimeout, connectTimeoutDetail, false);
      else this.fail(errors.upstreamConnect, this.owner.failure ?? detail, false);
      return;
    }
    // A refused stream never reached the application: safe to send again, like a stale keep-alive.
    this.fail(errors.upstreamReset, detail, refused || (!this.gotResponse && detail === 'ERR_HTTP2_GOAWAY_SESSION'));
  }

  private readonly onDrain = (): void => {
    const sink = this.sink;
    if (sink !== null) sink.onUpstreamDrain();
  };

  private readonly onWantTrailers = (): void => {
    const st = this.stream!;
    const t = this.requestTrailers;
    const out: Record<string, string> = {};
    if (t !== null) for (let i = 0; i + 1 < t.length; i += 2) out[t[i].toLowerCase()] = t[i + 1];
    try {
      st.sendTrailers(out);
    } catch {
      st.close(NGHTTP2_CANCEL);
    }
  };
}

function failLater(s: H2UpstreamStream, refused: boolean, detail: string): void {
  s.failEarly(refused, detail);
}
