// Between HTTP/1.1 and HTTP/2 header forms. The data path builds every upstream request as an
// HTTP/1.1 head string (forward-headers.ts, route filters, trace headers all edit that one
// string); an HTTP/2 upstream gets it back as a header object here, with the Host as
// :authority and the framing carried by DATA frames instead of Transfer-Encoding. Requests that
// came in over HTTP/2 carry pseudo-headers in rawHeaders; the HTTP/1.1 side never sees them.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RequestHead } from './forward-headers.js';

/** Headers an HTTP/2 message must not carry (RFC 9113 §8.2.2); the head builder already drops most. */
const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

/**
 * The HTTP/2 request headers for a head built by buildRequestHead: pseudo-headers from the
 * request line and Host, every other line lower-cased (repeated names become arrays; cookies
 * are joined as RFC 9113 §8.2.3 allows).
 */
export function h2RequestHeaders(head: string, scheme: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null);
  let end = head.indexOf('\r\n');
  const line = head.slice(0, end);
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  out[':method'] = line.slice(0, sp1);
  out[':path'] = line.slice(sp1 + 1, sp2);
  out[':scheme'] = scheme;
  let pos = end + 2;
  while (pos < head.length) {
    end = head.indexOf('\r\n', pos);
    if (end === -1 || end === pos) break;
    const colon = head.indexOf(':', pos);
    const name = head.slice(pos, colon).toLowerCase();
    const value = head.slice(colon + 1, end).trim();
    pos = end + 2;
    if (name === 'host') {
      out[':authority'] = value;
      continue;
    }
    if (connectionSpecific.has(name)) continue;
    if (name === 'te' && value !== 'trailers') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (name === 'cookie') out[name] = `${prev as string}; ${value}`;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev as string, value];
  }
  return out;
}

/** Response or trailer headers from an HTTP/2 message's raw list, pseudo-headers dropped. */
export function rawWithoutPseudo(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].charCodeAt(0) !== 0x3a) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** Flat [name, value, ...] from a header object (trailers, where Node gives no raw list). */
export function rawFromObject(headers: Record<string, string | string[] | number | undefined>): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, String(v));
  }
  return out;
}

/** The node:http2 stream behind a compat request, when it came in over HTTP/2. */
export function h2StreamOf(req: IncomingMessage): { endAfterHeaders: boolean } | undefined {
  return (req as any).stream;
}

/**
 * An HTTP/2 request has no Transfer-Encoding: a body is announced by the stream staying open
 * after its headers. Going out as HTTP/1.1 such a body needs chunked framing.
 */
export function withH2Framing(req: IncomingMessage, rh: RequestHead): RequestHead {
  if (rh.framing !== 'none') return rh;
  const stream = h2StreamOf(req);
  if (stream === undefined || stream.endAfterHeaders) return rh;
  if (req.headers['content-length'] === '0') return rh;
  return { ...rh, head: rh.head.slice(0, -2) + 'transfer-encoding: chunked\r\n\r\n', framing: 'chunked' };
}

/**
 * A response without a body, sent as one unit: over HTTP/2 a single HEADERS frame with
 * END_STREAM (what gRPC calls a trailers-only response; headers followed by an empty DATA frame
 * would leave a gRPC client without a status). The compat response sends its HEADERS at
 * writeHead, so the headers are set first and end() sends them with the end of the stream.
 */
export function respondHeadersOnly(res: ServerResponse, status: number, flat: readonly string[]): void {
  res.statusCode = status;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const prev = res.getHeader(flat[i]);
    res.setHeader(flat[i], prev === undefined ? flat[i + 1] : ([] as string[]).concat(prev as string | string[], flat[i + 1]));
  }
  res.end();
}
