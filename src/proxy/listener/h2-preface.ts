// The HTTP/2 connection preface (RFC 9113 §3.4): a client speaking h2c with prior knowledge
// opens with these 24 bytes, which no HTTP/1 request can start with ("PRI" is no method a
// server accepts), so reading them is enough to tell the two apart on one port.
export const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type PrefaceMatch = 'h2' | 'http1' | 'more';

/** Whether the bytes read so far start with the preface, cannot, or are too short to say. */
export function matchPreface(buf: Buffer): PrefaceMatch {
  const n = Math.min(buf.length, h2Preface.length);
  for (let i = 0; i < n; i++) if (buf[i] !== h2Preface[i]) return 'http1';
  return buf.length >= h2Preface.length ? 'h2' : 'more';
}
