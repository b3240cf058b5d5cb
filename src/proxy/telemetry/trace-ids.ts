// Random trace and span ids as lower-case hex, drawn from one pooled buffer: crypto.randomBytes
// per request costs a syscall, the pool costs one every 4 KiB.
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

function take(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

const zeros16 = '0000000000000000';
const zeros32 = zeros16 + zeros16;

/** 16 random bytes, never all zero (W3C forbids it). */
export function newTraceId(): string {
  const id = take(16);
  return id === zeros32 ? newTraceId() : id;
}

/** 8 random bytes, never all zero. */
export function newSpanId(): string {
  const id = take(8);
  return id === zeros16 ? newSpanId() : id;
}
