import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionPool } from '../../../../src/proxy/cluster/pool/connection-pool.js';
import type { UpstreamConnection } from '../../../../src/proxy/cluster/pool/upstream-client.js';
import type { UpstreamStream } from '../../../../src/proxy/cluster/pool/upstream-stream.js';
import { CircuitBreaker } from '../../../../src/proxy/cluster/resilience/circuit-breaker.js';
import { httpUpstream } from '../../proxy-test-support.js';
import { CollectSink } from './collect-sink.js';

const host = (n: number): string => `127.0.32.${n}`;


async function roundTrip(conn: UpstreamStream): Promise<void> {
  const sink = new CollectSink();
  conn.send('GET / HTTP/1.1\r\nhost: x\r\n\r\n', sink, false, 'none');
  await sink.done;
  assert.equal(sink.error, null);
}

test('idle sockets close once idle longer than idleTimeoutMs (on the injected clock)', async () => {
  const up = await httpUpstream(host(101), (_req, res) => res.end('ok'));
  let now = 1000;
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000, idleTimeoutMs: 500, now: () => now });
  try {
    await roundTrip(pool.acquire());
    assert.equal(pool.idleCount, 1);
    now += 499;
    pool.sweepIdle();
    assert.equal(pool.idleCount, 1);
    now += 1;
    pool.sweepIdle();
    assert.equal(pool.idleCount, 0);
    assert.equal(pool.size, 0);
    // A shorter limit pushed later applies to sockets already idle.
    await roundTrip(pool.acquire());
    pool.idleTimeoutMs = 100;
    now += 100;
    pool.sweepIdle();
    assert.equal(pool.size, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('acquireWithin: the cluster connection limit holds across pools; an idle socket elsewhere makes room', async () => {
  const a = await httpUpstream(host(102), (_req, res) => res.end('a'));
  const b = await httpUpstream(host(103), (_req, res) => res.end('b'));
  const breaker = new CircuitBreaker(() => ({ maxConnections: 1, maxPendingRequests: 10, maxRequests: 10, maxRetries: 3 }));
  const pa = new ConnectionPool(a.address, a.port, { connectTimeoutMs: 1000 });
  const pb = new ConnectionPool(b.address, b.port, { connectTimeoutMs: 1000 });
  try {
    const c1 = pa.acquireWithin(breaker);
    assert.ok(c1 !== null);
    assert.equal(pb.acquireWithin(breaker), null, 'busy socket: no room');
    await roundTrip(c1);
    assert.equal(breaker.connections, 1);
    assert.equal(pa.acquireWithin(breaker), c1, 'the idle socket is reused, not a new one opened');
    await roundTrip(c1);
    const c2 = pb.acquireWithin(breaker);
    assert.ok(c2 !== null, 'the idle socket of the other pool was closed to make room');
    assert.equal(pa.size, 0);
    assert.equal(breaker.connections, 1);
    await roundTrip(c2);
    (c2 as UpstreamConnection).destroy();
    assert.equal(breaker.connections, 0);
  } finally {
    pa.destroy();
    pb.destroy();
    await a.close();
    await b.close();
  }
});

test('maxRequestsPerConnection: the last request a socket may carry says connection: close, and the socket is not reused', async () => {
  const seen: { socket: unknown; connection: string | undefined }[] = [];
  // 127.0.41.0/24: the range of the bench's mTLS work, which added this setting
  const up = await httpUpstream('127.0.41.70', (req, res) => {
    seen.push({ socket: req.socket, connection: req.headers.connection });
    res.end('ok');
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000, maxRequestsPerConnection: 1 });
  try {
    for (let i = 0; i < 3; i++) {
      await roundTrip(pool.acquire());
      assert.equal(pool.idleCount, 0, 'a socket that carried its last request is closed, not pooled');
    }
    assert.equal(new Set(seen.map((s) => s.socket)).size, 3, 'a new connection per request');
    assert.deepEqual(seen.map((s) => s.connection), ['close', 'close', 'close']);

    // a limit pushed later applies to the sockets the pool already holds
    pool.maxRequestsPerConnection = 2;
    seen.length = 0;
    for (let i = 0; i < 4; i++) await roundTrip(pool.acquire());
    assert.equal(new Set(seen.map((s) => s.socket)).size, 2, 'two requests per connection');
    assert.deepEqual(seen.map((s) => s.connection), [undefined, 'close', undefined, 'close']);
    pool.maxRequestsPerConnection = 0;
    seen.length = 0;
    for (let i = 0; i < 3; i++) await roundTrip(pool.acquire());
    assert.equal(new Set(seen.map((s) => s.socket)).size, 1, 'no limit: one keep-alive socket');
    assert.equal(pool.idleCount, 1);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('maxRequestsPerConnection lowered below what an idle socket carried: it closes instead of carrying more, and counts', async () => {
  const sockets = new Set<unknown>();
  const up = await httpUpstream('127.0.95.10', (req, res) => {
    sockets.add(req.socket);
    res.end('ok');
  });
  let reached = 0;
  const stats = { opened() {}, closed() {}, maxRequestsReached: () => void reached++ };
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000, stats });
  try {
    for (let i = 0; i < 3; i++) await roundTrip(pool.acquire());
    assert.equal(sockets.size, 1);
    pool.maxRequestsPerConnection = 2;
    await roundTrip(pool.acquire());
    assert.equal(sockets.size, 2, 'the socket that carried 3 was not reused under a limit of 2');
    assert.equal(reached, 1);
    await roundTrip(pool.acquire());
    assert.equal(reached, 2, 'the new socket reached the limit on its second request');
    assert.equal(pool.size, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});
