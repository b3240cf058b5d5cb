// Header rewriting between hops (RFC 9110 §7.6.1): hop-by-hop headers stay behind, framing is
// re-derived, x-forwarded-for gains the caller. Works on raw header arrays in one pass and
// builds the upstream request head as one string, written with one socket write.
import type { IncomingMessage } from 'node:http';
import type { BodyFraming } from '../cluster/pool/upstream-client.js';

export interface RequestHead {
  head: string;
  framing: BodyFraming;
  /** The request carried the origin marker (a peer sidecar carried an HTTP/1 request over HTTP/2); the marker is not in `head`. */
  fromHttp1?: boolean;
}

/**
 * Set by a sidecar on an HTTP/1 request it sends to a peer over HTTP/2 (Linkerd's
 * l5d-orig-proto): a peer whose app speaks "the downstream's protocol" (a Service port without a
 * protocol) gives it to the app as HTTP/1.1 again. Never forwarded further: every head drops it.
 */
export const origProtoHeader = 'x-trellis-orig-proto';
const origProtoLine = origProtoHeader + ': HTTP/1.1\r\n';

/** Lower-cased header names that never cross a hop (te is handled on its own). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'expect']);

function isHopCandidate(len: number): boolean {
  // Cheap length filter so most headers are never lower-cased.
  return len === 2 || len === 6 || len === 7 || len === 10 || len === 14 || len === 15 || len === 16 || len === 17 || len === 20;
}

/** Extra header names a Connection header marks as hop-by-hop; null when there are none. */
function connectionTokens(raw: string[]): Set<string> | null {
  let set: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toLowerCase() !== 'connection') continue;
    const v = raw[i + 1];
    // The usual values name no extra headers; skip the split for them.
    if (v.length <= 10 && /^\s*(keep-alive|close)\s*$/i.test(v)) continue;
    for (const t of v.split(',')) {
      const tok = t.trim().toLowerCase();
      if (tok && tok !== 'close' && tok !== 'keep-alive') (set ??= new Set()).add(tok);
    }
  }
  return set;
}

/** `markHttp1`: add the origin marker (an HTTP/1 request about to travel to a peer over HTTP/2). */
export function buildRequestHead(req: IncomingMessage, defaultHost: string, markHttp1 = false): RequestHead {
  const raw = req.rawHeaders;
  let head = req.method + ' ' + req.url + ' HTTP/1.1\r\n';
  let framing: BodyFraming = 'none';
  let sawHost = false;
  let xff: string | null = null;
  let authority: string | null = null;
  let extra: Set<string> | null | undefined;
  let fromHttp1 = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    const len = name.length;
    if (name.charCodeAt(0) === 0x3a) {
      // An HTTP/2 request's pseudo-headers: only :authority has an HTTP/1.1 form (Host).
      if (name === ':authority') authority = value;
      continue;
    }
    if (isHopCandidate(len) || len === 4) {
      const lower = name.toLowerCase();
      if (lower === 'host') sawHost = true;
      else if (lower === 'transfer-encoding') {
        framing = 'chunked';
        continue;
      } else if (lower === 'content-length') {
        if (framing === 'none' && value !== '0') framing = 'length';
      } else if (lower === 'x-forwarded-for') {
        xff = xff === null ? value : xff + ', ' + value;
        continue;
      } else if (lower === 'te') {
        // Only "trailers" may be forwarded (RFC 9110 §10.1.4).
        if (value.toLowerCase().includes('trailers')) head += 'te: trailers\r\n';
        continue;
      } else if (lower === origProtoHeader) {
        fromHttp1 = value.trim() === 'HTTP/1.1';
        continue;
      } else if (hopByHop.has(lower)) {
        if (lower === 'connection' && extra === undefined) extra = connectionTokens(raw);
        continue;
      }
    }
    head += name + ': ' + value + '\r\n';
  }
  if (extra) head = dropHeaderLines(head, extra);
  if (framing === 'chunked') {
    // Node's server already refused requests that carry both lengths; chunked wins when re-framed.
    head = stripContentLength(head);
    head += 'transfer-encoding: chunked\r\n';
  }
  if (!sawHost) head += 'host: ' + (authority ?? defaultHost) + '\r\n';
  const remote = remoteAddress(req);
  head += 'x-forwarded-for: ' + (xff === null ? remote : xff + ', ' + remote) + (markHttp1 ? '\r\n' + origProtoLine + '\r\n' : '\r\n\r\n');
  return fromHttp1 ? { head, framing, fromHttp1 } : { head, framing };
}

function dropHeaderLines(head: string, names: Set<string>): string {
  const lines = head.split('\r\n');
  return lines.filter((l, i) => i === 0 || !names.has(l.slice(0, l.indexOf(':')).toLowerCase())).join('\r\n');
}

function stripContentLength(head: string): string {
  return head.replace(/\r\ncontent-length:[^\r]*/gi, '');
}

function remoteAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Response headers for the downstream, as the flat [name, value, ...] list writeHead takes. */
export function responseHeaders(raw: string[], closeConnection: boolean): string[] {
  const out: string[] = [];
  let extra: Set<string> | null | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const len = name.length;
    if (len === 2 || isHopCandidate(len)) {
      const lower = name.toLowerCase();
      if (hopByHop.has(lower) || lower === 'te') {
        if (lower === 'connection' && extra === undefined) extra = connectionTokens(raw);
        continue;
      }
    }
    out.push(name, raw[i + 1]);
  }
  if (extra) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) if (!extra.has(out[i].toLowerCase())) kept.push(out[i], out[i + 1]);
    if (closeConnection) kept.push('connection', 'close');
    return kept;
  }
  if (closeConnection) out.push('connection', 'close');
  return out;
}

/** Trailers as the object res.addTrailers takes. */
export function trailerObject(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    out[k] = out[k] === undefined ? raw[i + 1] : out[k] + ', ' + raw[i + 1];
  }
  return out;
}

/** The Host header (or HTTP/2's :authority) from raw headers, without building Node's lazy headers object. */
export function hostOf(raw: string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 4 && (n === 'Host' || n === 'host' || n.toLowerCase() === 'host')) return raw[i + 1];
    if (n === ':authority') return raw[i + 1];
  }
  return undefined;
}
