import test from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { cluster as clusterDefaults, endpoint, httpUpstream, request, withTimeout, type Reply } from '../proxy-test-support.js';
import { clusterName, host, retryPolicy, startProxy } from './resilience-test-support.js';

/** An upstream that holds every request until release(); `held(n)` resolves once n are waiting. */
async function gate(address: string) {
  const waiting: http.ServerResponse[] = [];
  let onHeld: (() => void) | null = null;
  const up = await httpUpstream(address, (_req, res) => {
    waiting.push(res);
    onHeld?.();
  });
  return Object.assign(up, {
    held(n: number): Promise<void> {
      return withTimeout(
        new Promise<void>((resolve) => {
          const check = () => {
            if (waiting.length >= n) resolve();
          };
          onHeld = check;
          check();
        }),
        5000,
        `${n} requests held`,
      );
    },
    count: () => waiting.length,
    release(): void {
      for (const res of waiting.splice(0)) res.end('released');
    },
  });
}

const limits = (l: Partial<ReturnType<typeof clusterDefaults>['circuitBreakers']>) => ({
  circuitBreakers: { ...clusterDefaults('x').circuitBreakers, ...l },
});

test('max active requests: over the limit the proxy answers 503 overloaded at once', async () => {
  const up = await gate(host(81));
  const proxy = await startProxy({ address: host(12), endpoints: [endpoint(up.address, up.port)], cluster: limits({ maxRequests: 3 }) });
  try {
    const held = [1, 2, 3].map(() => request({ host: proxy.address, port: proxy.port }));
    await up.held(3);
    const rejected = await Promise.all([1, 2].map(() => request({ host: proxy.address, port: proxy.port })));
    for (const r of rejected) {
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-trellis-error'], 'overloaded');
    }
    assert.equal(up.count(), 3, 'the rejected requests never reached the upstream');
    up.release();
    assert.deepEqual((await Promise.all(held)).map((r) => r.body), ['released', 'released', 'released']);
    assert.equal(proxy.counter('circuitBreakerRejections', clusterName, 'requests'), 2);
    const after = await (async () => {
      const p = request({ host: proxy.address, port: proxy.port });
      await up.held(1);
      up.release();
      return p;
    })();
    assert.equal(after.status, 200, 'slots are given back');
  } finally {
    up.release();
    await proxy.close();
    await up.close();
  }
});

test('max connections makes requests wait as pending; over max pending they get 503 overloaded', async () => {
  const up = await gate(host(82));
  const proxy = await startProxy({
    address: host(13),
    endpoints: [endpoint(up.address, up.port)],
    cluster: limits({ maxConnections: 2, maxPendingRequests: 2 }),
  });
  try {
    const replies: Array<Promise<Reply>> = [];
    for (let i = 0; i < 4; i++) replies.push(request({ host: proxy.address, port: proxy.port }));
    await up.held(2);
    const over = await request({ host: proxy.address, port: proxy.port });
    assert.equal(over.status, 503);
    assert.equal(over.headers['x-trellis-error'], 'overloaded');
    assert.equal(proxy.counter('circuitBreakerRejections', clusterName, 'pending'), 1);
    assert.equal(up.count(), 2, 'no third connection was opened');
    // Each release frees the two connections for the two pending requests.
    up.release();
    await up.held(2);
    up.release();
    const bodies = (await Promise.all(replies)).map((r) => r.body);
    assert.deepEqual(bodies, ['released', 'released', 'released', 'released']);
    const active = proxy.metrics.upstreamConnections.tracker(clusterName).active;
    assert.ok(active <= 2, `connections ${active}`);
  } finally {
    up.release();
    await proxy.close();
    await up.close();
  }
});

test('max active retries: at the limit a retry is skipped and the failure relayed', async () => {
  let hits = 0;
  const failing = await httpUpstream(host(83), (_req, res) => {
    hits++;
    res.statusCode = 503;
    res.end('no');
  });
  const proxy = await startProxy({
    address: host(14),
    endpoints: [endpoint(failing.address, failing.port)],
    route: { retry: retryPolicy({ maxRetries: 2 }) },
    cluster: limits({ maxRetries: 0 }),
  });
  try {
    const r = await request({ host: proxy.address, port: proxy.port });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'no');
    assert.equal(hits, 1);
    assert.equal(proxy.counter('circuitBreakerRejections', clusterName, 'retries'), 1);
  } finally {
    await proxy.close();
    await failing.close();
  }
});
