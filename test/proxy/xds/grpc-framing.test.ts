import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeGrpcFrame, GrpcFrameDecoder } from '../../../src/proxy/xds/grpc-framing.js';

function messages(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`message-${i}-${'x'.repeat(i * 7)}`));
}

function pushAll(decoder: GrpcFrameDecoder, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    const r = decoder.push(c);
    if (!r.ok) assert.fail(r.error);
    out.push(...r.messages);
  }
  return out;
}

test('a frame is flag 0, a big-endian length, then the message', () => {
  assert.deepEqual([...encodeGrpcFrame(Buffer.from('abc'))], [0, 0, 0, 0, 3, 97, 98, 99]);
  assert.deepEqual([...encodeGrpcFrame(new Uint8Array(0))], [0, 0, 0, 0, 0]);
});

test('reassembles a stream split at every byte position (two pieces)', () => {
  const msgs = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from('a longer second message')];
  const wire = Buffer.concat(msgs.map(encodeGrpcFrame));
  for (let cut = 0; cut <= wire.length; cut++) {
    const got = pushAll(new GrpcFrameDecoder(), [wire.subarray(0, cut), wire.subarray(cut)]);
    assert.deepEqual(got.map(String), msgs.map(String), `cut at ${cut}`);
  }
});

test('reassembles a stream delivered one byte at a time', () => {
  const msgs = messages(5);
  const wire = Buffer.concat(msgs.map(encodeGrpcFrame));
  const decoder = new GrpcFrameDecoder();
  const got = pushAll(decoder, [...wire].map((b) => Buffer.from([b])));
  assert.deepEqual(got.map(String), msgs.map(String));
  assert.equal(decoder.bufferedBytes, 0);
});

test('several messages in one chunk, and a chunk ending inside the next header', () => {
  const msgs = messages(4);
  const wire = Buffer.concat(msgs.map(encodeGrpcFrame));
  const firstThree = msgs.slice(0, 3).reduce((n, m) => n + 5 + m.length, 0);
  const decoder = new GrpcFrameDecoder();
  const a = decoder.push(wire.subarray(0, firstThree + 2));
  assert.ok(a.ok);
  assert.deepEqual(a.messages.map(String), msgs.slice(0, 3).map(String));
  assert.equal(decoder.bufferedBytes, 2);
  const b = decoder.push(wire.subarray(firstThree + 2));
  assert.ok(b.ok);
  assert.deepEqual(b.messages.map(String), [String(msgs[3])]);
});

test('random chunkings of many messages all decode the same', () => {
  const msgs = messages(40);
  const wire = Buffer.concat(msgs.map(encodeGrpcFrame));
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length;) {
      const n = 1 + Math.floor(rand() * 64);
      chunks.push(wire.subarray(i, i + n));
      i += n;
    }
    assert.deepEqual(pushAll(new GrpcFrameDecoder(), chunks).map(String), msgs.map(String));
  }
});

test('a message above the maximum is refused as soon as its header arrives', () => {
  const decoder = new GrpcFrameDecoder(1024);
  const header = Buffer.from([0, 0, 0, 4, 1]); // 1025 bytes announced
  const r = decoder.push(header);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.code, 'oversize');
    assert.match(r.error, /1025 vs\. 1024/);
  }
  // the decoder stays failed: the stream must be cancelled
  assert.equal(decoder.push(encodeGrpcFrame(Buffer.from('x'))).ok, false);
});

test('a message of exactly the maximum is accepted', () => {
  const decoder = new GrpcFrameDecoder(1024);
  const r = decoder.push(encodeGrpcFrame(Buffer.alloc(1024, 1)));
  assert.ok(r.ok);
  assert.equal(r.messages[0].length, 1024);
});

test('the compressed flag is refused (no compression was negotiated)', () => {
  const frame = encodeGrpcFrame(Buffer.from('abc'));
  frame[0] = 1;
  const r = new GrpcFrameDecoder().push(frame);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.code, 'compressed');
});

test('valid messages before a bad frame in the same chunk are still refused together', () => {
  // the stream is cancelled on the error, so nothing after it may be delivered
  const bad = encodeGrpcFrame(Buffer.from('b'));
  bad[0] = 1;
  const r = new GrpcFrameDecoder().push(Buffer.concat([encodeGrpcFrame(Buffer.from('a')), bad]));
  assert.equal(r.ok, false);
});
