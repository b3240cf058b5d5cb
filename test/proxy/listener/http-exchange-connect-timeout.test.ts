// An expired connect timeout through the outbound listener: 504 with its own code (a refused
// connection stays 502 upstream-connect), retried like any connect failure, and counted by
// outlier detection. The endpoint that never accepts is a real listener with a full accept queue.
import test from 'node:test';
import assert from 'node:assert/strict';
import { endpoint, freePort, httpUpstream, request } from '../proxy-test-support.js';
import { unacceptingListener } from '../unaccepting-listener.js';
import { clusterName, retryPolicy, startProxy } from './resilience-test-support.js';

const host = (n: number): string => `127.0.92.${n}`;
// connect timeouts of 500 ms: long enough that a loaded machine never times out a connect that succeeds

test('an expired connect timeout answers 504 connect-timeout; a refused connect stays 502 upstream-connect', async () => {
  const hole = await unacceptingListener(host(11));
  const closed = { address: host(12), port: await freePort(host(12)) };
  const toHole = await startProxy({ address: host(13), endpoints: [endpoint(hole.address, hole.port)], cluster: { connectTimeoutMs: 500 } });
  const toClosed = await startProxy({ address: host(14), endpoints: [endpoint(closed.address, closed.port)], cluster: { connectTimeoutMs: 500 } });
  try {
    const timedOut = await request({ host: toHole.address, port: toHole.port });
    assert.equal(timedOut.status, 504);
    assert.equal(timedOut.headers['x-trellis-error'], 'connect-timeout');
    assert.match(timedOut.body, /connect timeout/);
    assert.equal(toHole.counter('timeouts', clusterName, 'connect'), 1);

    const refused = await request({ host: toClosed.address, port: toClosed.port });
    assert.equal(refused.status, 502);
    assert.equal(refused.headers['x-trellis-error'], 'upstream-connect');
    assert.equal(toClosed.counter('timeouts', clusterName, 'connect'), 0);
  } finally {
    await toHole.close();
    await toClosed.close();
    await hole.close();
  }
});

test('a connect timeout is a connect failure: retried elsewhere, and 5 of them eject the endpoint', async () => {
  const hole = await unacceptingListener(host(21));
  let served = 0;
  const good = await httpUpstream(host(22), (_req, res) => {
    served++;
    res.end('ok');
  });
  const proxy = await startProxy({
    address: host(23),
    endpoints: [endpoint(hole.address, hole.port), endpoint(good.address, good.port)],
    cluster: {
      connectTimeoutMs: 500,
      outlierDetection: { consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
    },
    route: { retry: retryPolicy({ maxRetries: 2, retryOn: ['connect-failure'], backoffBaseMs: 0 }) },
  });
  try {
    for (let i = 0; i < 20; i++) {
      const r = await request({ host: proxy.address, port: proxy.port, path: `/r${i}` });
      assert.equal(r.status, 200, `request ${i}: ${r.status} ${String(r.headers['x-trellis-error'])}`);
    }
    assert.equal(served, 20);
    // round-robin sends every other first try to the hole until the fifth timeout ejects it
    assert.equal(proxy.counter('timeouts', clusterName, 'connect'), 5);
    assert.equal(proxy.counter('retries', clusterName, 'connect-failure'), 5);
    const held = proxy.clusters.get(clusterName)!.hosts.find((h) => h.endpoint.port === hole.port)!;
    assert.equal(held.state, 'ejected');
  } finally {
    await proxy.close();
    await good.close();
    await hole.close();
  }
});
