// Slow and stalled peers, with short timeouts configured: a slowloris trickling its head byte by
// byte is cut by the header timeout (408), a keep-alive connection left idle is closed, a stalled
// request body gets 408 and a stalled upstream 504 from the stream idle timeout; each is counted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hardeningHost, refusedCount, sendRaw, startSidecar, type Sidecar } from './hardening-support.js';
import { withTimeout } from '../proxy-test-support.js';

let sc: Sidecar;
before(async () => {
  sc = await startSidecar(hardeningHost(3), { headerTimeoutMs: 400, idleTimeoutMs: 300, streamIdleTimeoutMs: 600 });
});
after(async () => {
  await sc?.close();
});

async function metric(name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(await sc.runtime.metrics.text());
  return m ? Number(m[1]) : 0;
}

for (const direction of ['outbound', 'inbound'] as const) {
  test(`${direction}: slowloris (a head trickled byte by byte) is answered 408 and closed by the header timeout`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const before = await refusedCount(sc.runtime, direction, 'header-timeout');
    const seen = sc.app.requests.length;
    // 40 bytes every 100 ms would take 4 s; the timeout is 0.4 s
    const head = 'GET /slow HTTP/1.1\r\nHost: app\r\nx-a: b\r\n'.split('');
    const r = await sendRaw(sc.address, port, head, 8000, 100);
    assert.ok(r.closedBySidecar, 'the sidecar closed the connection');
    assert.equal(r.status, 408, r.text);
    assert.match(r.text, /\r\nx-trellis-error: request-timeout\r\n/);
    assert.equal(sc.app.requests.length, seen, 'nothing reached the app');
    assert.equal(await refusedCount(sc.runtime, direction, 'header-timeout'), before + 1);
  });

  test(`${direction}: a connection that never sends a byte is closed by the header timeout`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const r = await sendRaw(sc.address, port, [], 8000);
    assert.ok(r.closedBySidecar);
    assert.equal(r.status, 408);
  });

  test(`${direction}: an idle keep-alive connection is closed and counted`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const idleName = `trellis_downstream_idle_timeouts_total\\{direction="${direction}"\\}`;
    const before = await metric(idleName);
    const r = await sendRaw(sc.address, port, 'GET /kept HTTP/1.1\r\nHost: app\r\n\r\n', 8000);
    assert.equal(r.status, 200);
    assert.ok(r.closedBySidecar, 'closed after the idle timeout');
    assert.equal(await metric(idleName), before + 1);
  });

  test(`${direction}: a stalled request body gets 408 from the stream idle timeout, the app never a complete request`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const before = await refusedCount(sc.runtime, direction, 'stream-idle-timeout');
    const seen = sc.app.requests.length;
    const r = await sendRaw(sc.address, port, 'POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\nonly part', 8000);
    assert.ok(r.closedBySidecar);
    assert.equal(r.status, 408, r.text);
    assert.match(r.text, /\r\nconnection: close\r\n/);
    assert.ok(sc.app.requests.slice(seen).every((q) => !q.complete), 'the app got no complete request');
    assert.equal(await refusedCount(sc.runtime, direction, 'stream-idle-timeout'), before + 1);
  });

  test(`${direction}: an upstream that never answers gets the client 504 from the stream idle timeout`, async () => {
    const port = direction === 'outbound' ? sc.outboundPort : sc.inboundPort;
    const r = await sendRaw(sc.address, port, 'GET /stall HTTP/1.1\r\nHost: app\r\n\r\n', 8000);
    assert.ok(r.closedBySidecar);
    // outbound: its own idle timeout fires before (or with) the inbound sidecar's; either way 504
    assert.equal(r.status, 504, r.text);
    assert.match(r.text, /\r\nx-trellis-error: timeout\r\n/);
  });
}

test('a request that keeps moving is not cut by the timeouts', async () => {
  const done = await withTimeout(new Promise<string>((resolve) => {
    const s = net.connect(sc.outboundPort, sc.address);
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('close', () => resolve(text));
    s.on('error', () => undefined);
    s.write('POST /steady HTTP/1.1\r\nHost: app\r\nContent-Length: 10\r\nConnection: close\r\n\r\n');
    let n = 0;
    // 10 bytes, one every 200 ms: 2 s in all, far beyond every timeout, never idle for one
    const t = setInterval(() => {
      s.write('x');
      if (++n === 10) clearInterval(t);
    }, 200);
  }), 10_000, 'steady upload');
  assert.match(done, /^HTTP\/1\.1 200/);
  assert.equal(sc.app.requests.at(-1)!.body, 'xxxxxxxxxx');
});
