// Limits of every HTTP/2 server the sidecar runs, with Envoy's and nghttp2's protections as the
// reference: 100 concurrent streams, bounded flow-control windows and header lists, and per
// session guards against the floods a peer can send cheaply (CVE-2023-44487 rapid reset: open a
// stream and cancel it at once, over and over; PING and SETTINGS floods, which each make the
// server queue an ACK). nghttp2 itself bounds queued ACKs, CONTINUATION frames and invalid
// frames (maxSessionInvalidFrames); what trips any of these ends the session with GOAWAY and is
// counted in trellis_http2_refusals_total by reason.
import http2 from 'node:http2';
import type { Registry } from 'prom-client';
import { CounterFamily, type CounterCell } from '../telemetry/metric-families.js';
import type { Direction } from '../telemetry/metrics.js';

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** What a client may do before its session is ended; the window is a fixed one of `windowMs`. */
export interface H2AbuseLimits {
  windowMs: number;
  /** Streams the client opens and resets before their response is complete. */
  maxClientResets: number;
  maxPings: number;
  maxSettings: number;
}

export const defaultAbuseLimits: H2AbuseLimits = { windowMs: 10_000, maxClientResets: 200, maxPings: 100, maxSettings: 50 };

/** Request header list cap: 60 KiB as for HTTP/1 (Envoy's default), and 100 headers plus pseudo-headers. */
export const maxHeaderListBytes = 60 * 1024;
export const maxHeaderPairs = 100 + 5;

export const h2ServerOptions: http2.ServerOptions = {
  settings: {
    maxConcurrentStreams: 100,
    initialWindowSize: 256 * 1024,
    maxHeaderListSize: maxHeaderListBytes,
    enablePush: false,
  },
  maxHeaderListPairs: maxHeaderPairs,
  // Each counts the peer's misbehaviour; nghttp2 ends the session past the limit.
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  maxOutstandingPings: 10,
  maxSettings: 32,
  // MB of buffered frames per session before new streams are refused (ENHANCE_YOUR_CALM).
  maxSessionMemory: 16,
  peerMaxConcurrentStreams: 100,
};

/** The connection window the server grants each session (stream windows are the SETTINGS above). */
export const serverConnectionWindow = 1024 * 1024;

export type H2RefusalReason =
  | 'h2-rapid-reset' | 'h2-ping-flood' | 'h2-settings-flood' | 'h2-invalid-frames' | 'h2-protocol-error' | 'h2-session-error';

export const h2RefusalReasons: readonly H2RefusalReason[] = [
  'h2-rapid-reset', 'h2-ping-flood', 'h2-settings-flood', 'h2-invalid-frames', 'h2-protocol-error', 'h2-session-error',
];

export class H2Refusals {
  readonly family = new CounterFamily('trellis_http2_refusals_total',
    'HTTP/2 sessions ended by the sidecar for abuse or protocol errors (GOAWAY), by reason.', ['direction', 'reason']);

  cells(direction: Direction): Record<H2RefusalReason, CounterCell> {
    const out = {} as Record<H2RefusalReason, CounterCell>;
    for (const r of h2RefusalReasons) out[r] = this.family.cell(direction, r);
    return out;
  }
}

const byRegistry = new WeakMap<Registry, H2Refusals>();

export function h2RefusalsFor(registry: Registry): H2Refusals {
  let r = byRegistry.get(registry);
  if (!r) {
    r = new H2Refusals();
    registry.registerMetric(r.family as any);
    byRegistry.set(registry, r);
  }
  return r;
}

/** Per session: counts what the client does within the current window, ends the session past a limit. */
export class SessionGuard {
  private windowStart: number;
  private resets = 0;
  private pings = 0;
  private settings = 0;
  private refused = false;

  constructor(
    private readonly session: http2.ServerHttp2Session,
    private readonly limits: H2AbuseLimits,
    private readonly counters: Record<H2RefusalReason, CounterCell>,
  ) {
    this.windowStart = Date.now();
    session.on('ping', this.onPing);
    session.on('remoteSettings', this.onSettings);
    session.on('error', this.onError);
    session.on('frameError', this.onFrameError);
  }

  /** A stream of this session was reset by the client before its response ended. */
  clientReset(): void {
    this.roll();
    if (++this.resets > this.limits.maxClientResets) this.refuse('h2-rapid-reset');
  }

  private roll(): void {
    const now = Date.now();
    if (now - this.windowStart >= this.limits.windowMs) {
      this.windowStart = now;
      this.resets = this.pings = this.settings = 0;
    }
  }

  private refuse(reason: H2RefusalReason): void {
    if (this.refused) return;
    this.refused = true;
    this.counters[reason].inc();
    const s = this.session;
    if (s.destroyed) return;
    // GOAWAY with ENHANCE_YOUR_CALM, then cut: a flooding peer gets no grace period.
    s.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    s.destroy();
  }

  private readonly onPing = (): void => {
    this.roll();
    if (++this.pings > this.limits.maxPings) this.refuse('h2-ping-flood');
  };

  private readonly onSettings = (): void => {
    this.roll();
    if (++this.settings > this.limits.maxSettings) this.refuse('h2-settings-flood');
  };

  private readonly onFrameError = (): void => {
    // counted when nghttp2 gives up on the session (maxSessionInvalidFrames), not per frame
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    if (this.refused) return;
    this.refused = true;
    const code = err.code ?? '';
    if (code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') this.counters['h2-invalid-frames'].inc();
    else if (code === 'ERR_HTTP2_ERROR' || code === 'ERR_HTTP2_SESSION_ERROR') this.counters['h2-protocol-error'].inc();
    else if (code !== 'ECONNRESET' && code !== 'EPIPE') this.counters['h2-session-error'].inc();
    else this.refused = false;
  };
}
