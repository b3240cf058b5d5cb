// Raw HTTP/2 for the abuse tests: a peer that writes whatever frames a test scripts (floods and
// malformed sequences that node:http2's client refuses to produce) and records every frame the
// sidecar sends back. Request headers are HPACK "literal without indexing, new name" (RFC 7541
// 6.2.2), which needs no table; of responses only the `:status` of a first response is decoded
// (statusOf).
import net from 'node:net';

export const FrameType = {
  DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

export const ErrorCode = { NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, REFUSED_STREAM: 0x7, CANCEL: 0x8, ENHANCE_YOUR_CALM: 0xb } as const;

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** SETTINGS with these (id, value) pairs; empty is the usual first SETTINGS. */
export function settings(entries: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);
export const ping = (n: number): Buffer => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(n >>> 0, 4);
  return frame(FrameType.PING, 0, 0, p);
};
export const rstStream = (streamId: number, code: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
};
export const windowUpdate = (streamId: number, increment: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
};

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields without indexing, new names: stateless, so any block stands alone. */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

export function requestBlock(authority: string, path: string, method = 'GET', extra: Array<[string, string]> = []): Buffer {
  return headerBlock([[':method', method], [':scheme', 'http'], [':authority', authority], [':path', path], ...extra]);
}

export const headers = (streamId: number, block: Buffer, flags = Flag.END_HEADERS | Flag.END_STREAM): Buffer =>
  frame(FrameType.HEADERS, flags, streamId, block);
export const continuation = (streamId: number, block: Buffer, flags = 0): Buffer => frame(FrameType.CONTINUATION, flags, streamId, block);

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/**
 * The `:status` of a response head, in the two forms nghttp2 uses for a first field: static index
 * 8 (`:status: 200`) or a literal with incremental indexing on name index 8 with a plain
 * 3-digit value (the first time any other status goes out on a connection); -1 otherwise.
 */
export function statusOf(o: StreamOutcome | undefined): number {
  const h = o?.head;
  if (h == null || h.length === 0) return -1;
  if (h[0] === 0x88) return 200;
  if (h[0] === 0x48 && h[1] === 0x03) return Number(h.subarray(2, 5).toString('latin1'));
  return -1;
}

export interface GoAway {
  lastStreamId: number;
  errorCode: number;
}

/** What happened to one stream, as far as the sidecar said. */
export interface StreamOutcome {
  /** The first header block the sidecar sent on the stream (the response head), or null. */
  head: Buffer | null;
  ended: boolean;
  /** RST_STREAM error code from the sidecar, or -1. */
  resetCode: number;
}

/**
 * One client connection speaking raw HTTP/2: sends the preface and an empty SETTINGS on connect,
 * ACKs the sidecar's SETTINGS (unless told not to), and records the frames that come back (GOAWAY, RST_STREAM,
 * responses). It never answers PINGs itself: tests decide what the peer does.
 */
export class RawH2Connection {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  readonly streams = new Map<number, StreamOutcome>();
  /** Every GOAWAY the sidecar sent, in order. */
  readonly goaways: GoAway[] = [];
  closed = false;
  /**
   * The sidecar's kernel answered with a reset (ECONNRESET): it closed while bytes the test wrote
   * were still unread, so what it sent last (its GOAWAY) may be dropped before it is read here.
   */
  resetByPeer = false;
  /** Bytes written by the test so far (the socket may be cut before all of them leave). */
  written = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly closeWaiters: Array<() => void> = [];
  private readonly connected: Promise<void>;

  /** `ackSettings`: false plays a peer that never acknowledges the sidecar's SETTINGS (so they never take effect in nghttp2). */
  constructor(address: string, port: number, private readonly ackSettings = true) {
    this.socket = net.connect(port, address);
    this.socket.setNoDelay(true);
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.resetByPeer = true;
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters.splice(0)) w();
    });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.send(Buffer.concat([preface, settings()]));
        resolve();
      });
      this.socket.once('error', reject);
    });
  }

  /** The sidecar sent GOAWAY or closed the connection. */
  get ended(): boolean {
    return this.closed || this.goaways.length > 0;
  }

  ready(): Promise<void> {
    return this.connected;
  }

  /**
   * Writes `bytes` unless the connection is gone; resolves once the socket can take more
   * (backpressure), and never before the event loop has turned, so a loop of sends sees the
   * sidecar's GOAWAY and close as they come.
   */
  send(bytes: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return Promise.resolve();
    this.written += bytes.length;
    if (this.socket.write(bytes)) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Resolves when the sidecar has closed the connection, or false after `ms`. */
  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Polls until `done()` holds or `ms` pass; returns whether it held. */
  async waitFor(done: () => boolean, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!done()) {
      if (Date.now() > until || this.closed) return done();
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private outcome(id: number): StreamOutcome {
    let o = this.streams.get(id);
    if (o === undefined) {
      o = { head: null, ended: false, resetCode: -1 };
      this.streams.set(id, o);
    }
    return o;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const f: Frame = { type: this.buf[3], flags: this.buf[4], streamId: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.SETTINGS:
        if ((f.flags & Flag.ACK) === 0 && this.ackSettings) void this.send(settingsAck());
        break;
      case FrameType.GOAWAY:
        this.goaways.push({ lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, errorCode: f.payload.readUInt32BE(4) });
        break;
      case FrameType.RST_STREAM:
        this.outcome(f.streamId).resetCode = f.payload.readUInt32BE(0);
        break;
      case FrameType.HEADERS: {
        const o = this.outcome(f.streamId);
        // padding and priority are never set by nghttp2 on responses
        if (o.head === null) o.head = Buffer.from(f.payload);
        if ((f.flags & Flag.END_STREAM) !== 0) o.ended = true;
        break;
      }
      case FrameType.DATA: {
        const end = (f.flags & Flag.END_STREAM) !== 0;
        if (end) this.outcome(f.streamId).ended = true;
        // keep the sidecar's windows open so responses are never held back by flow control
        if (f.payload.length > 0) void this.send(end ? windowUpdate(0, f.payload.length) : Buffer.concat([windowUpdate(0, f.payload.length), windowUpdate(f.streamId, f.payload.length)]));
        break;
      }
      default:
        break;
    }
  }
}
