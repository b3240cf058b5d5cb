// Malformed and smuggling responses from an app or a peer: the client gets 502
// `x-trellis-error: upstream-protocol-error`, the upstream connection is discarded (the next
// request opens a new one, and bytes the upstream sent beyond its answer never become another
// client's response), and each is counted by reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hardeningHost, refusedCount, sendRaw, startSidecar, type Sidecar } from './hardening-support.js';

let sc: Sidecar;
before(async () => {
  sc = await startSidecar(hardeningHost(2));
});
after(async () => {
  await sc?.close();
});

const ok = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
const many = Array.from({ length: 101 }, (_, i) => `x-h${i}: v\r\n`).join('');

const cases: Array<{ name: string; answer: string; reason: string }> = [
  { name: 'CL+TE', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', reason: 'response-conflicting-length' },
  { name: 'double Content-Length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nokHTTP/', reason: 'response-duplicate-content-length' },
  { name: 'bad chunk size', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n', reason: 'response-invalid-chunk' },
  { name: 'header overflow', answer: `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\ncontent-length: 2\r\n\r\nok`, reason: 'response-header-too-large' },
  { name: 'too many headers', answer: `HTTP/1.1 200 OK\r\n${many}content-length: 2\r\n\r\nok`, reason: 'response-too-many-headers' },
  { name: 'unknown transfer coding', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', reason: 'response-invalid-transfer-encoding' },
  { name: 'obs-fold', answer: 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 2\r\n\r\nok', reason: 'response-obs-fold' },
  { name: 'NUL in a header', answer: 'HTTP/1.1 200 OK\r\nx-a: b\0c\r\ncontent-length: 2\r\n\r\nok', reason: 'response-invalid-header' },
  { name: 'bare LF', answer: 'HTTP/1.1 200 OK\ncontent-length: 2\n\nok', reason: 'response-bare-lf' },
  { name: 'HTTP/2.0 status line', answer: 'HTTP/2.0 200 OK\r\ncontent-length: 2\r\n\r\nok', reason: 'response-invalid-start-line' },
];

for (const direction of ['outbound', 'inbound'] as const) {
  test(`${direction}: malformed responses become 502 upstream-protocol-error on a discarded connection`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const request = (path: string) => `GET /raw${path} HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n`;
    const failures: string[] = [];
    for (const c of cases) {
      const counted = await refusedCount(sc.runtime, direction, c.reason);
      sc.raw.answer = () => c.answer;
      const r = await sendRaw(sc.address, port, request('/bad'));
      const problems: string[] = [];
      if (r.status !== 502) problems.push(`status ${r.status}: ${JSON.stringify(r.text.slice(0, 100))}`);
      if (!/\r\nx-trellis-error: upstream-protocol-error\r\n/i.test(r.text)) problems.push('no x-trellis-error: upstream-protocol-error');
      if ((await refusedCount(sc.runtime, direction, c.reason)) !== counted + 1) problems.push(`${c.reason} not counted once`);
      // the next request must not ride the connection that carried the bad answer
      const conns = sc.raw.connections;
      sc.raw.answer = () => ok;
      const next = await sendRaw(sc.address, port, request('/next'));
      if (next.status !== 200) problems.push(`the next request got ${next.status}`);
      if (sc.raw.connections !== conns + 1) problems.push('the upstream connection was reused');
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    assert.deepEqual(failures, []);
  });

  test(`${direction}: bytes after a complete response never answer the next request`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const keepAlive = (path: string) => `GET /raw${path} HTTP/1.1\r\nHost: raw\r\n\r\n`;
    for (const extra of ['HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled', 'HTTP/1.1 200 OK\r\nx-evil: 1\r\n']) {
      sc.raw.answer = (n) => (n === sc.raw.requests - 1 && extra ? ok + extra : ok);
      const first = await sendRaw(sc.address, port, keepAlive('/first') + 'GET /raw/x HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n'.replace('/x', '/second'), 4000);
      sc.raw.answer = () => 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nclean';
      const second = await sendRaw(sc.address, port, keepAlive('/third').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
      assert.doesNotMatch(first.text + second.text, /smuggled|x-evil/, 'the extra bytes reached a client');
      assert.equal(second.status, 200);
      assert.match(second.text, /clean$/);
    }
  });
}

test('a response with more than 32 header fields (llhttp hands them over in batches) is relayed whole', async () => {
  const fifty = Array.from({ length: 50 }, (_, i) => `x-h${i}: v${i}\r\n`).join('');
  sc.raw.answer = () => `HTTP/1.1 200 OK\r\n${fifty}content-length: 2\r\n\r\nok`;
  const r = await sendRaw(sc.address, sc.outboundPort, 'GET /raw HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.match(r.text, /\r\nx-h49: v49\r\n/);
  assert.match(r.text, /\r\n\r\nok$/);
});
