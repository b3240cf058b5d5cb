// Trace context as it arrives on a request: W3C `traceparent`/`tracestate`, B3 single (`b3`) or
// B3 multi (`x-b3-*`), read in one pass over the raw headers. W3C wins when both came.
export interface IncomingTrace {
  traceId: string;
  /** The caller's span: the parent of the span this sidecar starts. */
  spanId: string;
  /** The caller's decision; null when it made none (B3 without a sampled flag). */
  sampled: boolean | null;
  tracestate: string | null;
  /** The caller used B3 single-header form; the next hop gets the same form back. */
  b3Single: boolean;
}

const zero32 = '0'.repeat(32);
const zero16 = '0'.repeat(16);

/** Lower-case hex only (W3C ids are lower case); char codes, not a regex: this runs per request. */
function isHex(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function validTrace(id: string): boolean {
  return id.length === 32 && isHex(id, 0, 32) && id !== zero32;
}

function validSpan(id: string): boolean {
  return id.length === 16 && isHex(id, 0, 16) && id !== zero16;
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

/** `00-<trace>-<span>-<flags>`; null when malformed (W3C: then start a new trace). */
export function parseTraceparent(v: string): { traceId: string; spanId: string; sampled: boolean } | null {
  const s = v.length === 55 ? v : v.trim();
  if (s.length < 55 || s.charCodeAt(2) !== 45 || s.charCodeAt(35) !== 45 || s.charCodeAt(52) !== 45) return null;
  if (!isHex(s, 0, 2) || !isHex(s, 3, 35) || !isHex(s, 36, 52) || !isHex(s, 53, 55)) return null;
  const v0 = s.charCodeAt(0);
  const v1 = s.charCodeAt(1);
  if (v0 === 102 && v1 === 102) return null;
  // Version 00 is exactly 55 characters; later versions may append fields after a dash.
  if (v0 === 48 && v1 === 48 ? s.length !== 55 : s.length > 55 && s.charCodeAt(55) !== 45) return null;
  const traceId = s.slice(3, 35);
  const spanId = s.slice(36, 52);
  if (traceId === zero32 || spanId === zero16) return null;
  return { traceId, spanId, sampled: (hexValue(s.charCodeAt(54)) & 1) === 1 };
}

/** B3 trace ids may be 64-bit; they widen to 128 bits with leading zeros. */
function b3TraceId(v: string): string | null {
  const s = v.trim().toLowerCase();
  const id = s.length === 16 ? zero16 + s : s;
  return validTrace(id) ? id : null;
}

function b3Sampled(v: string): boolean | null {
  const s = v.trim().toLowerCase();
  if (s === '1' || s === 'd' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  return null;
}

/** `b3: {trace}-{span}[-{sampled}[-{parent}]]` or a bare sampling flag (`b3: 0`). */
export function parseB3Single(v: string): { traceId: string; spanId: string; sampled: boolean | null } | null {
  const parts = v.trim().split('-');
  if (parts.length < 2) return null;
  const traceId = b3TraceId(parts[0]);
  const spanId = parts[1].toLowerCase();
  if (traceId === null || !validSpan(spanId)) return null;
  return { traceId, spanId, sampled: parts.length > 2 ? b3Sampled(parts[2]) : null };
}

/** Lengths of the header names read here, so most headers are never lower-cased. */
function isTraceCandidate(len: number): boolean {
  return len === 2 || len === 10 || len === 11 || len === 12 || len === 13;
}

/** The trace context of a request, or null when it carries none (or only malformed ones). */
export function readIncomingTrace(raw: string[]): IncomingTrace | null {
  let traceparent: string | null = null;
  let tracestate: string | null = null;
  let b3: string | null = null;
  let b3Trace: string | null = null;
  let b3Span: string | null = null;
  let b3Flag: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const len = raw[i].length;
    if (!isTraceCandidate(len)) continue;
    const name = raw[i].toLowerCase();
    if (name === 'traceparent') traceparent = raw[i + 1];
    else if (name === 'tracestate') tracestate = tracestate === null ? raw[i + 1] : tracestate + ',' + raw[i + 1];
    else if (name === 'b3') b3 = raw[i + 1];
    else if (name === 'x-b3-traceid') b3Trace = raw[i + 1];
    else if (name === 'x-b3-spanid') b3Span = raw[i + 1];
    else if (name === 'x-b3-sampled') b3Flag = raw[i + 1];
    else if (name === 'x-b3-flags' && raw[i + 1].trim() === '1') b3Flag = '1';
  }
  if (traceparent !== null) {
    const w3c = parseTraceparent(traceparent);
    if (w3c !== null) return { traceId: w3c.traceId, spanId: w3c.spanId, sampled: w3c.sampled, tracestate, b3Single: false };
  }
  if (b3 !== null) {
    const single = parseB3Single(b3);
    if (single !== null) return { traceId: single.traceId, spanId: single.spanId, sampled: single.sampled, tracestate: null, b3Single: true };
  }
  if (b3Trace !== null && b3Span !== null) {
    const traceId = b3TraceId(b3Trace);
    const spanId = b3Span.trim().toLowerCase();
    if (traceId !== null && validSpan(spanId)) return { traceId, spanId, sampled: b3Flag === null ? null : b3Sampled(b3Flag), tracestate: null, b3Single: false };
  }
  return null;
}

const traceLines = /\r\n(?:traceparent|tracestate|b3|x-b3-[a-z]+):[^\r]*/gi;

/**
 * The upstream head with this hop's trace context: the caller's trace lines out, W3C and B3
 * (multi, or single when the caller used it) in, so apps on either convention keep the trace.
 */
export function withTraceHeaders(head: string, hadTrace: boolean, traceId: string, spanId: string, parentId: string | null, sampled: boolean, tracestate: string | null, b3Single: boolean): string {
  let h = hadTrace ? head.replace(traceLines, '') : head;
  h = h.slice(0, h.length - 2);
  h += 'traceparent: 00-' + traceId + '-' + spanId + (sampled ? '-01\r\n' : '-00\r\n');
  if (tracestate !== null) h += 'tracestate: ' + tracestate + '\r\n';
  if (b3Single) {
    h += 'b3: ' + traceId + '-' + spanId + (sampled ? '-1' : '-0') + (parentId === null ? '' : '-' + parentId) + '\r\n';
  } else {
    h += 'x-b3-traceid: ' + traceId + '\r\nx-b3-spanid: ' + spanId + '\r\n';
    if (parentId !== null) h += 'x-b3-parentspanid: ' + parentId + '\r\n';
    h += sampled ? 'x-b3-sampled: 1\r\n' : 'x-b3-sampled: 0\r\n';
  }
  return h + '\r\n';
}
