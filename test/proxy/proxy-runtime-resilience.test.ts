// The resilience stages through the whole runtime, configured the way xDS delivers them
// (Route.retry, Route.fault, ClusterConfig.circuitBreakers), with their metrics in the exposition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyRuntime } from '../../src/proxy/proxy-runtime.js';
import { endpoint, freePort, httpUpstream, outboundConfig, prefixRoute, request, withTimeout } from './proxy-test-support.js';

const host = (n: number): string => `127.0.32.${n}`;

test('runtime: retries, faults and breakers apply from the typed config and show in /metrics', async () => {
  const up = await httpUpstream(host(201), (_req, res) => res.end('ok'));
  const dead = await freePort(host(202));
  const listenPort = await freePort(host(200));
  const config = outboundConfig({
    address: host(200),
    port: listenPort,
    services: [
      {
        name: 'api',
        endpoints: [endpoint(host(202), dead), endpoint(up.address, up.port)],
        routes: [
          {
            ...prefixRoute('api-faulty', '/faulty', [['api.default', 1]]),
            fault: { abort: { percent: 100, httpStatus: 502 } },
          },
          {
            ...prefixRoute('api', '/', [['api.default', 1]]),
            retry: {
              maxRetries: 2, retryOn: ['connect-failure'], retriableStatusCodes: [], perTryTimeoutMs: 0,
              backoffBaseMs: 1, backoffMaxMs: 5, nonIdempotent: false, maxBufferBytes: 65536,
            },
          },
        ],
      },
    ],
  });
  const rt = new ProxyRuntime({ listenerDrainMs: 200 });
  rt.applyConfig(config);
  try {
    await withTimeout(rt.listening(), 3000, 'listeners bound');
    for (let i = 0; i < 10; i++) {
      const r = await request({ host: host(200), port: listenPort, headers: { host: 'api' } });
      assert.equal(r.status, 200);
    }
    const f = await request({ host: host(200), port: listenPort, path: '/faulty', headers: { host: 'api' } });
    assert.equal(f.status, 502);
    assert.equal(f.headers['x-trellis-error'], 'fault-abort');
    const text = await rt.metrics.text();
    assert.match(text, /trellis_retries_total\{cluster="api.default",reason="connect-failure"\} [1-9]/);
    assert.match(text, /trellis_faults_injected_total\{route="api-faulty",kind="abort"\} 1/);
    assert.match(text, /trellis_circuit_breaker_rejections_total\{cluster="api.default",limit="requests"\} 0/);
    assert.match(text, /trellis_requests_total\{[^}]*route="api-faulty"[^}]*status_code="502",error="fault-abort"[^}]*\} 1/);
  } finally {
    await rt.close();
    await up.close();
  }
});
