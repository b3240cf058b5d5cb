// 999:1 over real sockets: the router's weighted choice (checked with 200,000 picks in
// router-full.test.ts) also holds for requests that go through the sidecar's listener, router,
// clusters and pools to two real servers. 20,000 requests send the small side 20 on average
// (binomial, n = 20,000, p = 0.001: standard deviation 4.47); the test accepts 5 to 40, which a
// correct split misses with a probability of about 4 × 10⁻⁵ (exact binomial tails: P(X ≤ 4) ≈
// 1.7 × 10⁻⁵, P(X ≥ 41) ≈ 2.5 × 10⁻⁵), while 0 (the small side ignored) or 100 (1:199) fail it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { endpoint, freePort, httpUpstream, outboundConfig, prefixRoute, request, withTimeout } from '../proxy-test-support.js';

const host = (n: number): string => `127.0.92.${n}`;
const total = 20_000;
const concurrency = 16;

test('999:1 over real sockets: 20,000 requests send 5 to 40 to the small side', async () => {
  const hits = { stable: 0, canary: 0 };
  const stable = await httpUpstream(host(61), (_req, res) => {
    hits.stable++;
    res.end('stable');
  });
  const canary = await httpUpstream(host(62), (_req, res) => {
    hits.canary++;
    res.end('canary');
  });
  const listen = { address: host(60), port: await freePort(host(60)) };
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    rt.applyConfig(outboundConfig({
      ...listen,
      services: [
        { name: 'api', endpoints: [endpoint(stable.address, stable.port)], routes: [prefixRoute('split', '/', [['api.default', 999], ['api-canary.default', 1]])] },
        { name: 'api-canary', endpoints: [endpoint(canary.address, canary.port)] },
      ],
    }));
    await withTimeout(rt.listening(), 3000, 'listeners bound');
    let next = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const r = await request({ host: listen.address, port: listen.port, headers: { host: 'api' }, agent }, 10_000);
        if (r.status !== 200) failures.push(`${r.status} ${String(r.headers['x-trellis-error'])}`);
      }
    }));
    assert.deepEqual(failures, []);
    assert.equal(hits.stable + hits.canary, total);
    assert.ok(hits.canary >= 5 && hits.canary <= 40, `the small side got ${hits.canary} of ${total}`);
  } finally {
    agent.destroy();
    await rt.drain(0);
    await stable.close();
    await canary.close();
  }
});
