import test from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { endpoint, freePort, httpUpstream, rawUpstream, request, withTimeout, type Upstream } from '../proxy-test-support.js';
import { clusterName, host, load, retryPolicy, startProxy } from './resilience-test-support.js';

function counting(address: string, handler: http.RequestListener): Promise<Upstream & { hits: () => number }> {
  let n = 0;
  return httpUpstream(address, (req, res) => {
    n++;
    handler(req, res);
  }).then((u) => Object.assign(u, { hits: () => n }));
}

const ok: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => res.end(`ok ${req.method} ${Buffer.concat(chunks).length}`));
};

const unavailable: http.RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('upstream says no');
  });
};

test('one instance dying under steady load is invisible to idempotent requests', async () => {
  const ups = await Promise.all([1, 2, 3].map((i) => counting(host(10 + i), ok)));
  const proxy = await startProxy({
    address: host(1),
    endpoints: ups.map((u) => endpoint(u.address, u.port)),
    route: { retry: retryPolicy({ maxRetries: 2 }) },
  });
  try {
    let killed: Promise<void> | null = null;
    const replies = await load(proxy, 300, 8, {
      onEach: (_r, i) => {
        // Kill one instance a third of the way in: its pooled sockets reset, new ones are refused.
        if (i === 100 && killed === null) killed = ups[0].close();
      },
    });
    await killed;
    const failed = replies.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `failed: ${failed.map((r) => `${r.status} ${r.headers['x-trellis-error']}`).join(', ')}`);
    const retried = ['connect-failure', 'reset'].reduce((n, reason) => n + proxy.counter('retries', clusterName, reason), 0);
    assert.ok(retried > 0, 'the dead instance was tried and the tries repeated');
    assert.ok(ups[1].hits() + ups[2].hits() >= 200);
  } finally {
    await proxy.close();
    await Promise.all(ups.slice(1).map((u) => u.close()));
  }
});

test('connect failure (closed port) and reset before the head are retried on another endpoint', async () => {
  const good = await counting(host(21), ok);
  const closedPort = await freePort(host(22));
  const resetter = await rawUpstream(host(23), (s) => s.once('data', () => s.resetAndDestroy()));
  const proxy = await startProxy({
    address: host(2),
    endpoints: [endpoint(host(22), closedPort), endpoint(resetter.address, resetter.port), endpoint(good.address, good.port)],
    route: { retry: retryPolicy({ maxRetries: 2 }) },
  });
  try {
    const replies = await load(proxy, 30, 1);
    assert.deepEqual(replies.map((r) => r.status), new Array(30).fill(200));
    assert.ok(proxy.counter('retries', clusterName, 'connect-failure') >= 5);
    assert.ok(proxy.counter('retries', clusterName, 'reset') >= 5);
  } finally {
    await proxy.close();
    await good.close();
    await resetter.close();
  }
});

test('a reset after the response head went out cuts the downstream response; it is not retried', async () => {
  let tries = 0;
  const midway = await rawUpstream(host(31), (s) =>
    s.once('data', () => {
      tries++;
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => s.resetAndDestroy(), 20);
    }),
  );
  const proxy = await startProxy({ address: host(3), endpoints: [endpoint(midway.address, midway.port)], route: { retry: retryPolicy() } });
  try {
    await assert.rejects(request({ host: proxy.address, port: proxy.port }), /aborted|socket hang up|ECONNRESET/);
    assert.equal(tries, 1);
  } finally {
    await proxy.close();
    await midway.close();
  }
});

test('POST is not retried by default; with nonIdempotent it is, replaying its body, only when small', async () => {
  const bad = await counting(host(41), unavailable);
  const good = await counting(host(42), ok);
  const endpoints = [endpoint(bad.address, bad.port), endpoint(good.address, good.port)];
  const small = 'x'.repeat(500);
  const large = 'y'.repeat(4000);

  const plain = await startProxy({ address: host(4), endpoints, route: { retry: retryPolicy() } });
  try {
    const replies = await load(plain, 20, 1, { method: 'POST', body: small });
    const relayed = replies.filter((r) => r.status === 503);
    assert.equal(relayed.length, 10, 'round robin: every other POST met the failing instance and got its answer');
    assert.ok(relayed.every((r) => r.body === 'upstream says no' && r.headers['x-trellis-error'] === undefined));
    assert.equal(bad.hits() + good.hits(), 20, 'no POST went twice');
  } finally {
    await plain.close();
  }

  const allowed = await startProxy({ address: host(5), endpoints, route: { retry: retryPolicy({ nonIdempotent: true, maxBufferBytes: 1024 }) } });
  try {
    const badBefore = bad.hits();
    const replies = await load(allowed, 20, 1, { method: 'POST', body: small });
    assert.deepEqual(replies.map((r) => r.body), new Array(20).fill('ok POST 500'), 'retried with the whole body');
    const retried = bad.hits() - badBefore;
    assert.ok(retried > 0);
    assert.equal(allowed.counter('retries', clusterName, 'gateway-error'), retried);
    const triesBefore = bad.hits() + good.hits();
    const big = await load(allowed, 20, 1, { method: 'POST', body: large });
    assert.equal(bad.hits() + good.hits() - triesBefore, 20, 'a body over maxBufferBytes is not retried');
    const relayed = big.filter((r) => r.status === 503);
    assert.ok(relayed.length > 0 && relayed.every((r) => r.body === 'upstream says no'));
    assert.ok(big.filter((r) => r.status === 200).every((r) => r.body === 'ok POST 4000'));
    assert.equal(allowed.counter('retries', clusterName, 'gateway-error'), retried);
  } finally {
    await allowed.close();
    await bad.close();
    await good.close();
  }
});

test('a chunked body that grows past the buffer limit is streamed, not retried', async () => {
  const bad = await counting(host(51), unavailable);
  const proxy = await startProxy({
    address: host(6),
    endpoints: [endpoint(bad.address, bad.port)],
    route: { retry: retryPolicy({ nonIdempotent: true, maxBufferBytes: 1024, retryOn: ['5xx'] }) },
  });
  try {
    const { default: httpMod } = await import('node:http');
    const reply = await withTimeout(
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpMod.request({ host: proxy.address, port: proxy.port, method: 'POST', path: '/' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (let i = 0; i < 8; i++) req.write('z'.repeat(512));
        req.end();
      }),
      5000,
      'chunked POST',
    );
    assert.equal(reply.status, 503);
    assert.equal(reply.body, 'upstream says no');
    assert.equal(bad.hits(), 1);
  } finally {
    await proxy.close();
    await bad.close();
  }
});

test('with every instance failing, retries stay within the budget (about 20% extra, not 3×)', async () => {
  const ups = await Promise.all([1, 2].map((i) => counting(host(60 + i), unavailable)));
  const proxy = await startProxy({
    address: host(7),
    endpoints: ups.map((u) => endpoint(u.address, u.port)),
    route: { retry: retryPolicy({ maxRetries: 2, backoffBaseMs: 0 }) },
    cluster: { retryBudget: { ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000 } },
  });
  try {
    const n = 300;
    const replies = await load(proxy, n, 4);
    assert.ok(replies.every((r) => r.status === 503 && r.body === 'upstream says no'), 'exhausted retries relay the upstream answer');
    const attempts = ups[0].hits() + ups[1].hits();
    const min = 1 * 10;
    // Without a budget this would be 3 × 300 = 900.
    assert.ok(attempts <= n * 1.2 + min, `attempts ${attempts}`);
    assert.ok(attempts > n, `some retries happened (${attempts})`);
    assert.ok(proxy.counter('retryBudgetExhausted', clusterName) > 0);
    assert.equal(proxy.counter('retries', clusterName, 'gateway-error'), attempts - n);
  } finally {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});
