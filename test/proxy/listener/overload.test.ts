// Overload sheds instead of crashing: past the connection cap new connections get 503 overloaded
// and are closed without being read, past the memory threshold new requests get 503 overloaded;
// the sidecar stays up, counts every refusal, and serves again once the pressure is gone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { hardeningHost, refusedCount, sendRaw, startSidecar, type Sidecar } from './hardening-support.js';
import { withTimeout } from '../proxy-test-support.js';

let sc: Sidecar;
const baseRss = process.memoryUsage().rss;
before(async () => {
  sc = await startSidecar(hardeningHost(4), { maxConnections: 3, maxMemoryBytes: baseRss + 160 * 1024 * 1024 });
});
after(async () => {
  await sc?.close();
});

function connect(port: number): Promise<net.Socket> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect(port, sc.address, () => resolve(s));
    s.on('error', reject);
  }), 5000, 'connect');
}

test('past the connection cap (across both listeners) a new connection gets 503 overloaded and is closed; below it again, requests pass', async () => {
  const held = [await connect(sc.inboundPort), await connect(sc.inboundPort), await connect(sc.outboundPort)];
  try {
    // wait until the sidecar has accepted all three
    const deadline = Date.now() + 5000;
    while (sc.runtime.overload.activeConnections < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sc.runtime.overload.activeConnections, 3);
    const before = await refusedCount(sc.runtime, 'outbound', 'connection-limit');
    const seen = sc.app.requests.length;
    const r = await sendRaw(sc.address, sc.outboundPort, 'GET /over HTTP/1.1\r\nHost: app\r\n\r\n');
    assert.equal(r.status, 503, r.text);
    assert.match(r.text, /\r\nx-trellis-error: overloaded\r\n/);
    assert.ok(r.closedBySidecar);
    assert.equal(sc.app.requests.length, seen, 'nothing read, nothing forwarded');
    assert.equal(await refusedCount(sc.runtime, 'outbound', 'connection-limit'), before + 1);
  } finally {
    for (const s of held) s.destroy();
  }
  const deadline = Date.now() + 5000;
  while (sc.runtime.overload.activeConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ok = await sendRaw(sc.address, sc.inboundPort, 'GET /after HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  assert.equal(ok.status, 200, ok.text);
});

test('above the memory threshold new requests get 503 overloaded; the sidecar stays up and serves again once memory is back', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let ballast: Buffer | null = Buffer.alloc(256 * 1024 * 1024, 1);
  try {
    sc.runtime.overload.check();
    assert.equal(sc.runtime.overload.shedding, 'memory', `rss ${process.memoryUsage().rss} vs limit ${baseRss + 160 * 1024 * 1024}`);
    const before = await refusedCount(sc.runtime, 'outbound', 'overload-memory');
    const r = await sendRaw(sc.address, sc.outboundPort, 'GET /heavy HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 503, r.text);
    assert.match(r.text, /\r\nx-trellis-error: overloaded\r\n/);
    assert.equal(await refusedCount(sc.runtime, 'outbound', 'overload-memory'), before + 1);
    assert.match(await sc.runtime.metrics.text(), /trellis_refused_total/, 'still serving its metrics');
  } finally {
    ballast = null;
  }
  assert.equal(ballast, null);
  // V8 frees large backing stores on a background thread after the collection: poll, bounded
  for (let i = 0; i < 50 && sc.runtime.overload.shedding !== null; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
    sc.runtime.overload.check();
  }
  assert.equal(sc.runtime.overload.shedding, null, `rss ${process.memoryUsage().rss} after the ballast went`);
  const ok = await sendRaw(sc.address, sc.outboundPort, 'GET /light HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  assert.equal(ok.status, 200, ok.text);
});

test('the V8 heap guard sheds near the heap limit (a guard with a small heap limit and a fake sample)', async () => {
  const { OverloadGuard } = await import('../../../src/proxy/overload/overload-guard.js');
  let heapUsed = 10;
  const g = new OverloadGuard({ maxConnections: 0, maxMemoryBytes: 0, heapLimitBytes: 100, sample: () => ({ rss: 1e12, heapUsed }) });
  try {
    assert.equal(g.shedding, null, 'RSS alone sheds nothing without --max-memory');
    heapUsed = 91;
    g.check();
    assert.equal(g.shedding, 'heap');
    heapUsed = 50;
    g.check();
    assert.equal(g.shedding, null);
    assert.deepEqual(Object.keys(g.describe()).sort(), ['activeConnections', 'heapShedBytes', 'heapUsedBytes', 'maxConnections', 'maxMemoryBytes', 'rssBytes', 'shedding']);
  } finally {
    g.close();
  }
});
