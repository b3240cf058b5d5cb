// The sidecar's own limits against malformed, oversized, slow and overwhelming traffic, set per
// process (`trellis proxy` flags), not by the control plane: they protect this process whatever
// config it is sent. Defaults follow Envoy (and HAProxy where Envoy has none).

export interface ProxyLimits {
  /**
   * Request and response heads: the request target (or status reason) plus every header name and
   * value, in bytes. Envoy's max_request_headers_kb / max_response_headers_kb, 60 KiB. 431 beyond
   * for a request; a response over it is refused with 502.
   */
  maxHeaderBytes: number;
  /** Header fields per request or response (Envoy's max_headers_count, 100). */
  maxHeaders: number;
  /**
   * Method and request target together (414 beyond). Envoy has no separate limit (the target
   * counts in its 60 KiB); 16 KiB keeps every real URL (browsers stop near 8 KiB, nginx at 8 KiB)
   * and refuses the long-URL probes a 60 KiB head would let through.
   */
  maxRequestLineBytes: number;
  /** Time for a request head to arrive, from the connection (or its first byte) on; 408 beyond. */
  headerTimeoutMs: number;
  /** A keep-alive connection from a client with no request in flight is closed after this. */
  idleTimeoutMs: number;
  /**
   * A connection with a request in flight and no byte in either direction for this long is
   * closed (Envoy's stream_idle_timeout, 5 min): 408 when the request body stalled, 504 when the
   * upstream did. 0 turns it off.
   */
  streamIdleTimeoutMs: number;
  /** Downstream connections across all listeners of the sidecar; 0 = no cap. */
  maxConnections: number;
  /**
   * Resident memory above which new requests are shed with 503 overloaded; 0 = only the V8 heap
   * guard (90 % of the heap limit), which is always on.
   */
  maxMemoryBytes: number;
}

export const defaultProxyLimits: Readonly<ProxyLimits> = Object.freeze({
  maxHeaderBytes: 60 * 1024,
  maxHeaders: 100,
  maxRequestLineBytes: 16 * 1024,
  // Envoy leaves request_headers_timeout off but recommends 10 s at the edge; Node's own is 60 s.
  headerTimeoutMs: 10_000,
  // Longer than clients' own pools keep idle sockets (Node 4-5 s, Go 90 s is the exception), so the
  // client, not the sidecar, usually closes first and never writes into a closing socket.
  idleTimeoutMs: 60_000,
  streamIdleTimeoutMs: 300_000,
  // Far below the open-file limits sidecars run with, far above what one instance's app opens.
  maxConnections: 10_000,
  maxMemoryBytes: 0,
});

/** Limits with the given fields replaced, each checked; throws naming the field. */
export function proxyLimits(overrides: Partial<ProxyLimits> = {}): ProxyLimits {
  const l: ProxyLimits = { ...defaultProxyLimits };
  for (const [k, v] of Object.entries(overrides) as Array<[keyof ProxyLimits, number | undefined]>) {
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0) throw new Error(`limits.${k}: ${v} is not a whole number >= 0`);
    l[k] = v;
  }
  if (l.maxHeaderBytes < 1024) throw new Error(`limits.maxHeaderBytes: ${l.maxHeaderBytes} is below 1 KiB; no real request fits`);
  if (l.maxHeaders < 1) throw new Error('limits.maxHeaders: at least 1 (Host) is needed');
  if (l.maxRequestLineBytes < 64) throw new Error(`limits.maxRequestLineBytes: ${l.maxRequestLineBytes} is below 64 bytes`);
  if (l.maxRequestLineBytes > l.maxHeaderBytes) {
    throw new Error(`limits.maxRequestLineBytes (${l.maxRequestLineBytes}) must not exceed limits.maxHeaderBytes (${l.maxHeaderBytes}): the request line counts in the head`);
  }
  return l;
}
