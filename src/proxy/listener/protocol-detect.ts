// Protocol detection on a freshly accepted connection (Envoy's tls_inspector + http_inspector,
// Linkerd's detect): read the first bytes the client sends and decide between TLS, the HTTP/2
// preface, an HTTP/1 request line and "something else" (opaque TCP). The detector only decides;
// the bytes it read are put back on the socket (unshift), so whoever takes the socket next (the
// TLS server, the HTTP/1 or HTTP/2 server, the TCP proxy) reads the stream from its first byte.
//
// A client that sends nothing is given `timeoutMs` before the connection is treated as TCP:
// server-speaks-first protocols (MySQL, SMTP, a banner) wait for the server, so on a port that
// is not marked opaque they start only after that delay. Marking the port opaque (`protocol:
// tcp`) skips detection altogether (docs/protocols.md).
import { METHODS } from 'node:http';
import type { Socket } from 'node:net';

export type DetectedProtocol = 'tls' | 'http1' | 'http2' | 'tcp';

/**
 * Why the detector decided: `matched` a known protocol, `unrecognized` bytes that are none of
 * them (TCP), `timeout` the client sent nothing conclusive in time (TCP), `closed` the client
 * went away (or failed) before a decision (nothing to hand on).
 */
export type DetectionOutcome = 'matched' | 'unrecognized' | 'timeout' | 'closed';

export interface Detection {
  protocol: DetectedProtocol;
  outcome: Exclude<DetectionOutcome, 'closed'>;
  /** Bytes read while detecting (put back on the socket unless `ended`); 0 after a silent timeout. */
  bytes: number;
  /**
   * The client sent some bytes and then half-closed before they were conclusive (always TCP):
   * a stream that has ended cannot take them back, so they are here instead, to be sent first.
   */
  ended: Buffer | null;
}

export interface DetectOptions {
  /** How long a client may stay silent (or inconclusive) before its connection is TCP. */
  timeoutMs: number;
  /** The most bytes read before deciding: an HTTP/1 request line may be this long. */
  maxPeekBytes?: number;
  /** Told of every decision (metrics). */
  onOutcome?: (protocol: DetectedProtocol | null, outcome: DetectionOutcome) => void;
}

/** Envoy's default listener_filters_timeout is 15 s; Istio and Linkerd use 10 s for protocol detection. */
export const defaultDetectTimeoutMs = 10_000;
/** Envoy's http_inspector reads up to 64 KiB; a request line longer than 16 KiB is refused anyway. */
export const defaultMaxPeekBytes = 16 * 1024;

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** "GET ", "POST ", ...: what the HTTP/1 server accepts (llhttp's list). */
const methodPrefixes = METHODS.map((m) => Buffer.from(`${m} `, 'latin1'));
const tlsHandshake = 0x16;
const tlsMajor = 0x03;

/** `more`: the bytes so far are the start of something known; wait for the next read. */
export type Classification = DetectedProtocol | 'more';

/** Whether `buf` (shorter or longer) agrees with `want` on their common length. */
function agrees(buf: Buffer, want: Buffer): boolean {
  const n = Math.min(buf.length, want.length);
  for (let i = 0; i < n; i++) if (buf[i] !== want[i]) return false;
  return true;
}

/**
 * Classifies the first bytes of a connection. HTTP/1 needs the whole request line (a method, a
 * target and ` HTTP/1.x` before the first line end), so a line protocol whose first word happens
 * to be an HTTP method (Redis's inline `GET key`) is not mistaken for HTTP.
 */
export function classifyFirstBytes(buf: Buffer, maxPeekBytes = defaultMaxPeekBytes): Classification {
  if (buf.length === 0) return 'more';
  if (buf[0] === tlsHandshake) {
    if (buf.length < 2) return 'more';
    return buf[1] === tlsMajor ? 'tls' : 'tcp';
  }
  if (agrees(buf, http2Preface)) return buf.length >= http2Preface.length ? 'http2' : 'more';
  let method: Buffer | null = null;
  let partial = false;
  for (const m of methodPrefixes) {
    if (!agrees(buf, m)) continue;
    if (buf.length >= m.length) {
      method = m;
      break;
    }
    partial = true;
  }
  if (method === null) return partial ? 'more' : 'tcp';
  const lf = buf.indexOf(0x0a, method.length);
  if (lf === -1) {
    // A long request target: HTTP/1 by its start; the HTTP server judges the rest (414 and such).
    return buf.length >= maxPeekBytes ? 'http1' : 'more';
  }
  const end = lf > 0 && buf[lf - 1] === 0x0d ? lf - 1 : lf;
  const line = buf.toString('latin1', method.length, end);
  return / HTTP\/1\.[01]$/.test(line) ? 'http1' : 'tcp';
}

/**
 * Reads from `socket` until its protocol is known, puts the bytes back and resolves with the
 * decision; the socket is left paused for its next owner. Resolves null when the client closed
 * or failed first (the socket is destroyed then). Costs one read per connection, never per request.
 */
export function detectProtocol(socket: Socket, opts: DetectOptions): Promise<Detection | null> {
  const maxPeek = opts.maxPeekBytes ?? defaultMaxPeekBytes;
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (protocol: DetectedProtocol | null, outcome: DetectionOutcome, ended = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onGone);
      socket.removeListener('error', onGone);
      opts.onOutcome?.(protocol, outcome);
      if (protocol === null) {
        socket.destroy();
        resolve(null);
        return;
      }
      socket.pause();
      if (buf.length > 0 && !ended) socket.unshift(buf);
      resolve({ protocol, outcome: outcome as Detection['outcome'], bytes: buf.length, ended: ended ? buf : null });
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const c = classifyFirstBytes(buf, maxPeek);
      if (c === 'more') {
        if (buf.length >= maxPeek) finish('tcp', 'unrecognized');
        return;
      }
      finish(c, c === 'tcp' ? 'unrecognized' : 'matched');
    };
    const onGone = (): void => finish(null, 'closed');
    // Some bytes, then the client's FIN: whatever it is, it is not a protocol we know.
    const onEnd = (): void => (buf.length === 0 ? finish(null, 'closed') : finish('tcp', 'unrecognized', true));
    const timer = setTimeout(() => finish('tcp', 'timeout'), opts.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onGone);
    socket.once('error', onGone);
    socket.resume();
  });
}
