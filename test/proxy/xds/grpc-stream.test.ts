// GrpcStream against a raw node:http2 server, so each server behaviour (split frames, trailers,
// trailers-only errors, resets) is under the test's control.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { encodeGrpcFrame } from '../../../src/proxy/xds/grpc-framing.js';
import { GrpcStream } from '../../../src/proxy/xds/grpc-stream.js';
import type { GrpcEndReason } from '../../../src/proxy/xds/grpc-status.js';

const host = '127.0.20.2';
const path = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
let handler: Handler = () => {};
const server = http2.createServer();
server.on('stream', (s, h) => handler(s, h));
const ready = new Promise<number>((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
const sessions = new Set<http2.ServerHttp2Session>();
server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
after(() => {
  for (const s of sessions) s.destroy();
  server.close();
});

function call(port: number, opts: { maxMessageBytes?: number; write?: Buffer[] } = {}): Promise<{ messages: string[]; end: GrpcEndReason }> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const timer = setTimeout(() => reject(new Error('call did not end within 5 s')), 5000);
    const stream = new GrpcStream({ authority: `${host}:${port}`, path, maxMessageBytes: opts.maxMessageBytes, keepaliveMs: 0 }, {
      onMessage: (m) => messages.push(m.toString()),
      onEnd: (end) => { clearTimeout(timer); resolve({ messages, end }); },
    });
    for (const w of opts.write ?? []) stream.write(w);
  });
}

test('sends the gRPC request headers and framed messages; receives split and merged frames; grpc-status 0 ends it', async () => {
  const port = await ready;
  let seen: http2.IncomingHttpHeaders = {};
  const body: Buffer[] = [];
  handler = (s, h) => {
    seen = h;
    s.on('data', (c: Buffer) => body.push(c));
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    const wire = Buffer.concat([encodeGrpcFrame(Buffer.from('one')), encodeGrpcFrame(Buffer.from('two')), encodeGrpcFrame(Buffer.from('three'))]);
    // one DATA frame per byte range, cutting through headers and bodies
    s.write(wire.subarray(0, 3));
    s.write(wire.subarray(3, 12));
    setTimeout(() => s.end(wire.subarray(12)), 20);
  };
  const r = await call(port, { write: [Buffer.from('req')] });
  assert.deepEqual(r.messages, ['one', 'two', 'three']);
  assert.deepEqual(r.end, { code: 0, message: '' });
  assert.equal(seen[':method'], 'POST');
  assert.equal(seen[':path'], path);
  assert.equal(seen['content-type'], 'application/grpc');
  assert.equal(seen.te, 'trailers');
  assert.deepEqual([...Buffer.concat(body)], [...encodeGrpcFrame(Buffer.from('req'))]);
});

test('a trailers-only error response reports grpc-status and the decoded grpc-message', async () => {
  const port = await ready;
  handler = (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'join%20token%20refused' }, { endStream: true });
  const r = await call(port);
  assert.deepEqual(r.end, { code: 7, message: 'join token refused' });
  assert.deepEqual(r.messages, []);
});

test('an error in the trailers after messages is the end reason', async () => {
  const port = await ready;
  handler = (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'shutting down' }));
    s.end(encodeGrpcFrame(Buffer.from('last')));
  };
  const r = await call(port);
  assert.deepEqual(r.messages, ['last']);
  assert.deepEqual(r.end, { code: 14, message: 'shutting down' });
});

test('an oversize message cancels the call with RESOURCE_EXHAUSTED', async () => {
  const port = await ready;
  let serverSawReset = false;
  handler = (s) => {
    s.on('close', () => { serverSawReset = s.rstCode === http2.constants.NGHTTP2_CANCEL; });
    s.on('error', () => {});
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    s.write(encodeGrpcFrame(Buffer.from('small')));
    s.write(encodeGrpcFrame(Buffer.alloc(2048)));
  };
  const r = await call(port, { maxMessageBytes: 1024 });
  assert.deepEqual(r.messages, ['small']);
  assert.equal(r.end.code, 8);
  assert.match(r.end.message, /larger than max/);
  await waitFor(() => serverSawReset);
});

test('a compressed message ends the call with INTERNAL', async () => {
  const port = await ready;
  handler = (s) => {
    s.on('error', () => {});
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    const f = encodeGrpcFrame(Buffer.from('zz'));
    f[0] = 1;
    s.write(f);
  };
  const r = await call(port);
  assert.equal(r.end.code, 13);
  assert.match(r.end.message, /compressed/);
});

test('a non-200 HTTP status maps to a gRPC code', async () => {
  const port = await ready;
  handler = (s) => s.respond({ ':status': 503 }, { endStream: true });
  const r = await call(port);
  assert.equal(r.end.code, 14);
});

test('a stream reset without status is UNAVAILABLE', async () => {
  const port = await ready;
  handler = (s) => {
    s.on('error', () => {});
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  };
  const r = await call(port);
  assert.equal(r.end.code, 14);
});

test('nothing listening is UNAVAILABLE', async () => {
  const r = await call(1); // port 1 on our loopback range: refused
  assert.equal(r.end.code, 14);
  assert.match(r.end.message, /ECONNREFUSED/);
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
