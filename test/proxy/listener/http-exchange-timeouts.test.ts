import test from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { endpoint, rawUpstream, request, withTimeout, type Reply } from '../proxy-test-support.js';
import { ManualClock } from '../cluster/resilience/manual-clock.js';
import { clusterName, host, retryPolicy, startProxy } from './resilience-test-support.js';

/** Accepts, reads, never answers; resolves `arrived` for each request head that comes in. */
async function blackHole(address: string) {
  let waiters: Array<() => void> = [];
  let count = 0;
  const up = await rawUpstream(address, (s: net.Socket) =>
    s.on('data', () => {
      count++;
      const now = waiters;
      waiters = [];
      for (const w of now) w();
    }),
  );
  return Object.assign(up, {
    count: () => count,
    /** Resolves once `n` requests in total have arrived. */
    arrived(n: number): Promise<void> {
      if (count >= n) return Promise.resolve();
      return withTimeout(
        new Promise<void>((resolve) => {
          const check = () => (count >= n ? resolve() : waiters.push(check));
          waiters.push(check);
        }),
        5000,
        `request ${n} at the black hole`,
      );
    },
  });
}

/** Lets pending I/O callbacks run (not a wait for time: the clock is manual). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the route timeout answers 504 timeout at the configured time, not before', async () => {
  const clock = new ManualClock();
  const hole = await blackHole(host(71));
  const proxy = await startProxy({ address: host(8), endpoints: [endpoint(hole.address, hole.port)], route: { timeoutMs: 1000 }, clock });
  try {
    let reply: Reply | null = null;
    const pending = request({ host: proxy.address, port: proxy.port }).then((r) => (reply = r));
    await hole.arrived(1);
    clock.advance(999);
    await turn();
    assert.equal(reply, null);
    clock.advance(1);
    const r = await pending;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-trellis-error'], 'timeout');
    assert.equal(proxy.counter('timeouts', clusterName, 'request'), 1);
  } finally {
    await proxy.close();
    await hole.close();
  }
});

test('per-try timeouts fire per try and the retry goes elsewhere; the last one answers 504', async () => {
  const clock = new ManualClock();
  const holes = [await blackHole(host(72)), await blackHole(host(73))];
  const proxy = await startProxy({
    address: host(9),
    endpoints: holes.map((h) => endpoint(h.address, h.port)),
    route: { retry: retryPolicy({ maxRetries: 1, perTryTimeoutMs: 200, backoffBaseMs: 0 }) },
    clock,
  });
  try {
    let reply: Reply | null = null;
    const pending = request({ host: proxy.address, port: proxy.port }).then((r) => (reply = r));
    // The balancer starts at a random endpoint: find which one took the first try.
    const first = await Promise.race(holes.map((h, i) => h.arrived(1).then(() => i)));
    const other = holes[1 - first];
    clock.advance(199);
    await turn();
    assert.equal(other.count(), 0);
    clock.advance(1);
    await other.arrived(1);
    assert.equal(holes[first].count(), 1, 'the retry picked the other endpoint');
    clock.advance(199);
    await turn();
    assert.equal(reply, null);
    clock.advance(1);
    const r = await pending;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-trellis-error'], 'timeout');
    assert.equal(proxy.counter('timeouts', clusterName, 'per-try'), 2);
    assert.equal(proxy.counter('retries', clusterName, 'per-try-timeout'), 1);
  } finally {
    await proxy.close();
    await Promise.all(holes.map((h) => h.close()));
  }
});

test('the route timeout bounds all tries together', async () => {
  const clock = new ManualClock();
  const holes = [await blackHole(host(74)), await blackHole(host(75))];
  const proxy = await startProxy({
    address: host(10),
    endpoints: holes.map((h) => endpoint(h.address, h.port)),
    route: { timeoutMs: 300, retry: retryPolicy({ maxRetries: 5, perTryTimeoutMs: 200, backoffBaseMs: 0 }) },
    clock,
  });
  try {
    const pending = request({ host: proxy.address, port: proxy.port });
    const first = await Promise.race(holes.map((h, i) => h.arrived(1).then(() => i)));
    clock.advance(200);
    await holes[1 - first].arrived(1);
    clock.advance(100);
    const r = await pending;
    assert.equal(r.status, 504);
    assert.equal(proxy.counter('timeouts', clusterName, 'request'), 1);
  } finally {
    await proxy.close();
    await Promise.all(holes.map((h) => h.close()));
  }
});

test('a timeout after the response head went out cuts the connection', async () => {
  const clock = new ManualClock();
  let headSeen!: () => void;
  const headAtClient = new Promise<void>((resolve) => (headSeen = resolve));
  const slow = await rawUpstream(host(76), (s) =>
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst part');
    }),
  );
  const proxy = await startProxy({ address: host(11), endpoints: [endpoint(slow.address, slow.port)], route: { timeoutMs: 500 }, clock });
  try {
    const { default: http } = await import('node:http');
    const outcome = withTimeout(
      new Promise<string>((resolve) => {
        const req = http.get({ host: proxy.address, port: proxy.port, agent: false }, (res) => {
          headSeen();
          res.on('data', () => undefined);
          res.on('aborted', () => resolve(`aborted after ${res.statusCode}`));
          res.on('error', () => resolve(`aborted after ${res.statusCode}`));
          res.on('end', () => resolve('complete'));
        });
        req.on('error', () => resolve('request error'));
      }),
      5000,
      'cut response',
    );
    await withTimeout(headAtClient, 5000, 'response head at the client');
    clock.advance(500);
    assert.equal(await outcome, 'aborted after 200');
  } finally {
    await proxy.close();
    await slow.close();
  }
});
