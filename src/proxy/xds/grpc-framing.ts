// gRPC's length-prefixed message framing (1-byte compressed flag, 4-byte big-endian length), kept
// apart from the HTTP/2 transport so it can be tested byte by byte: HTTP/2 DATA frames split and
// merge gRPC messages arbitrarily.

export const defaultMaxMessageBytes = 16 * 1024 * 1024;

const headerBytes = 5;

/** A message with its 5-byte prefix; we never compress (we advertise no grpc-accept-encoding). */
export function encodeGrpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(headerBytes + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, headerBytes);
  return frame;
}

export type FramePushResult = { ok: true; messages: Buffer[] } | { ok: false; code: 'oversize' | 'compressed'; error: string };

/** Reassembles messages from arbitrary chunks. After an error the decoder is spent: the stream must be cancelled. */
export class GrpcFrameDecoder {
  private readonly maxMessageBytes: number;
  // Chunks of the current partial frame; joined once, when the whole frame is there, so a large
  // message arriving in many small DATA frames costs one copy instead of one per chunk.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failed: FramePushResult | undefined;

  constructor(maxMessageBytes = defaultMaxMessageBytes) {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Bytes held for a message not yet complete. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Uint8Array): FramePushResult {
    if (this.failed) return this.failed;
    if (chunk.length === 0) return { ok: true, messages: [] };
    this.pending.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.pendingBytes += chunk.length;
    const messages: Buffer[] = [];
    while (this.pendingBytes >= headerBytes) {
      const header = this.peekHeader();
      const flag = header[0];
      const length = header.readUInt32BE(1);
      if (flag !== 0) return this.fail('compressed', `received a message with compressed flag ${flag}, but no compression was negotiated`);
      if (length > this.maxMessageBytes) {
        return this.fail('oversize', `received message larger than max (${length} vs. ${this.maxMessageBytes})`);
      }
      if (this.pendingBytes < headerBytes + length) break;
      const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
      messages.push(all.subarray(headerBytes, headerBytes + length));
      const rest = all.subarray(headerBytes + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return { ok: true, messages };
  }

  private peekHeader(): Buffer {
    const first = this.pending[0];
    if (first.length >= headerBytes) return first;
    const joined = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [joined];
    return joined;
  }

  private fail(code: 'oversize' | 'compressed', error: string): FramePushResult {
    this.failed = { ok: false, code, error };
    this.pending = [];
    this.pendingBytes = 0;
    return this.failed;
  }
}
