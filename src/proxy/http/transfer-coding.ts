// Transfer-Encoding as the sidecar accepts it, in either direction: any coding but a single
// `chunked` would reach the other side still encoded, or be framed differently by a peer.

/** Exactly one `chunked` and nothing else (empty list elements are allowed by the list syntax). */
export function onlyChunked(v: string): boolean {
  if (v === 'chunked') return true;
  let chunked = 0;
  for (const part of v.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '') continue;
    if (t !== 'chunked') return false;
    chunked++;
  }
  return chunked === 1;
}
