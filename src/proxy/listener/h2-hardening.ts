// Limits of every HTTP/2 server the sidecar runs, with Envoy's and nghttp2's protections as the
// reference: 100 concurrent streams, bounded flow-control windows and header lists, and per
// session guards against the floods a peer can send cheaply (CVE-2023-44487 rapid reset: open a
// stream and cancel it at once, over and over; PING and SETTINGS floods, which each make the
// server queue an ACK). nghttp2 itself bounds queued ACKs, CONTINUATION frames per header block
// (CVE-2024-27316 class), invalid frames (maxSessionInvalidFrames) and streams past an
// acknowledged limit; what trips any of these ends the session with GOAWAY and is counted in
// trellis_refused_total{direction, reason} under the `h2-*` reasons below (docs/telemetry.md).
// A header list over the limit from a client that never acknowledged it is refused by the
// request checks (http-limits.ts).
import http2 from 'node:http2';

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
export const maxConcurrentStreams = 100;

export const h2ServerOptions: http2.ServerOptions = {
  settings: {
    maxConcurrentStreams,
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

/**
 * Why the sidecar ended an HTTP/2 session or refused a stream, as counted in
 * `trellis_refused_total{direction, reason}` next to the HTTP/1 reasons (docs/telemetry.md).
 */
export type H2RefusalReason =
  | 'h2-rapid-reset' | 'h2-ping-flood' | 'h2-settings-flood' | 'h2-continuation-flood' | 'h2-control-flood'
  | 'h2-too-many-streams' | 'h2-header-list-too-large' | 'h2-invalid-frames' | 'h2-protocol-error' | 'h2-session-error';

/** Counts one refusal for the listener that owns the session (made once per listener). */
export type H2RefusalCounter = (reason: H2RefusalReason) => void;

/** nghttp2's error codes (nghttp2.h) that say why it gave up on a session; Node passes them as `errno`. */
const nghttp2Errors = {
  /** A frame the protocol forbids here, e.g. HEADERS past the acknowledged concurrent-stream limit. */
  proto: -505,
  /** Too many PING/SETTINGS ACKs or RST_STREAMs queued for a peer that does not read. */
  flooded: -904,
  /** A header block split over more CONTINUATION frames than nghttp2 accepts (CVE-2024-27316 class). */
  tooManyContinuations: -905,
} as const;

/** Per session: counts what the client does within the current window, ends the session past a limit. */
export class SessionGuard {
  private windowStart: number;
  private resets = 0;
  private pings = 0;
  private settings = 0;
  /** Streams JavaScript holds open: at the limit, a protocol error is a client that ignored it. */
  private openStreams = 0;
  private refused = false;

  constructor(
    private readonly session: http2.ServerHttp2Session,
    private readonly limits: H2AbuseLimits,
    private readonly count: H2RefusalCounter,
  ) {
    this.windowStart = Date.now();
    session.on('ping', this.onPing);
    session.on('remoteSettings', this.onSettings);
    session.on('error', this.onError);
  }

  /** A new stream of this session (the caller reports its close). */
  streamOpened(): void {
    this.openStreams++;
  }

  streamClosed(): void {
    // streams closed by the session's end still count: its error is reported after them
    if (!this.session.destroyed) this.openStreams--;
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
    this.count(reason);
    const s = this.session;
    if (s.destroyed) return;
    // GOAWAY with ENHANCE_YOUR_CALM, then cut: a flooding peer gets no grace period
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

  /** nghttp2 (or Node around it) ended the session: counted once, by what it detected. */
  private readonly onError = (err: NodeJS.ErrnoException): void => {
    if (this.refused) return;
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE') return; // the peer went away: not a refusal
    this.refused = true;
    this.count(this.reasonOf(code, err.errno));
  };

  private reasonOf(code: string, errno: number | undefined): H2RefusalReason {
    if (code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'h2-invalid-frames';
    if (code !== 'ERR_HTTP2_ERROR' && code !== 'ERR_HTTP2_SESSION_ERROR') return 'h2-session-error';
    if (errno === nghttp2Errors.tooManyContinuations) return 'h2-continuation-flood';
    if (errno === nghttp2Errors.flooded) return 'h2-control-flood';
    if (errno === nghttp2Errors.proto && this.openStreams >= maxConcurrentStreams) return 'h2-too-many-streams';
    return 'h2-protocol-error';
  }
}
