import test from 'node:test';
import assert from 'node:assert/strict';
import { endpoint, httpUpstream, request, type Reply } from '../proxy-test-support.js';
import { ManualClock, seededRandom } from '../cluster/resilience/manual-clock.js';
import { host, load, startProxy } from './resilience-test-support.js';

async function okUpstream(address: string) {
  let hits = 0;
  const up = await httpUpstream(address, (_req, res) => {
    hits++;
    res.end('ok');
  });
  return Object.assign(up, { hits: () => hits });
}

test('abort at 100% answers with the configured status and fault-abort, never reaching the upstream', async () => {
  const up = await okUpstream(host(91));
  const proxy = await startProxy({
    address: host(15), endpoints: [endpoint(up.address, up.port)], route: { fault: { abort: { percent: 100, httpStatus: 418 } } },
  });
  try {
    const replies = await load(proxy, 20, 2);
    for (const r of replies) {
      assert.equal(r.status, 418);
      assert.equal(r.headers['x-trellis-error'], 'fault-abort');
    }
    assert.equal(up.hits(), 0);
    assert.equal(proxy.counter('faultsInjected', 'svc', 'abort'), 20);
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('0% abort and delay change nothing', async () => {
  const up = await okUpstream(host(92));
  const proxy = await startProxy({
    address: host(16),
    endpoints: [endpoint(up.address, up.port)],
    route: { fault: { abort: { percent: 0, httpStatus: 503 }, delay: { percent: 0, delayMs: 60_000 } } },
  });
  try {
    const replies = await load(proxy, 50, 4);
    assert.ok(replies.every((r) => r.status === 200 && r.body === 'ok'));
    assert.equal(up.hits(), 50);
    assert.equal(proxy.counter('faultsInjected', 'svc', 'abort') + proxy.counter('faultsInjected', 'svc', 'delay'), 0);
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('delay at 100% holds the request for delayMs on the clock, then forwards it', async () => {
  const clock = new ManualClock();
  const up = await okUpstream(host(93));
  const proxy = await startProxy({
    address: host(17), endpoints: [endpoint(up.address, up.port)], route: { fault: { delay: { percent: 100, delayMs: 5000 } } }, clock,
  });
  try {
    let reply: Reply | null = null;
    const pending = request({ host: proxy.address, port: proxy.port }).then((r) => (reply = r));
    // Wait (bounded) until the proxy holds the request on the clock.
    for (let i = 0; i < 500 && clock.pendingTimers === 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(clock.pendingTimers, 1);
    clock.advance(4999);
    await new Promise((r) => setImmediate(r));
    assert.equal(up.hits(), 0);
    assert.equal(reply, null);
    clock.advance(1);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(up.hits(), 1);
    assert.equal(proxy.counter('faultsInjected', 'svc', 'delay'), 1);
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('a fractional abort percent hits exactly the requests the seeded random picks', async () => {
  const up = await okUpstream(host(94));
  const seed = 1234;
  const percent = 12.5;
  const proxy = await startProxy({
    address: host(18),
    endpoints: [endpoint(up.address, up.port)],
    route: { fault: { abort: { percent, httpStatus: 503 } } },
    random: seededRandom(seed),
  });
  try {
    const n = 400;
    // One random number per request (abort only, single cluster): the same sequence predicts it.
    const rnd = seededRandom(seed);
    let expected = 0;
    for (let i = 0; i < n; i++) if (rnd() * 100 < percent) expected++;
    const replies = await load(proxy, n, 1);
    const aborted = replies.filter((r) => r.headers['x-trellis-error'] === 'fault-abort').length;
    assert.equal(aborted, expected);
    assert.ok(expected > 25 && expected < 75, `seeded expectation ${expected} near 50`);
    assert.equal(up.hits(), n - aborted);
  } finally {
    await proxy.close();
    await up.close();
  }
});
