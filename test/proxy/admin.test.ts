import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/proxy/admin.js';
import { ProxyRuntime } from '../../src/proxy/proxy-runtime.js';
import { endpoint, freePort, host, httpUpstream, outboundConfig, request, withTimeout } from './proxy-test-support.js';

test('admin: /live at once, /ready only after a config is bound, /config_dump and /metrics', async () => {
  const up = await httpUpstream(host(80), (_req, res) => res.end('ok'));
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  const xds = { connected: true, server: '127.0.30.1:15010', ackedVersion: '7', lastNack: null, lastUpdate: null, source: 'xds' };
  const admin = new AdminServer({ address: host(81), port: 0, runtime: rt, xdsStatus: () => xds, node: () => ({ id: 'api-127.0.30.81' }) });
  await admin.listen();
  const port = admin.port;
  try {
    assert.equal((await request({ host: host(81), port, path: '/live' })).status, 200);
    assert.equal((await request({ host: host(81), port, path: '/ready' })).status, 503);

    const lport = await freePort(host(82));
    rt.applyConfig(outboundConfig({ version: '7', address: host(82), port: lport, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
    await withTimeout(rt.listening(), 3000, 'bind');
    assert.equal((await request({ host: host(81), port, path: '/ready' })).status, 200);

    assert.equal((await request({ host: host(82), port: lport, headers: { host: 'api' } })).status, 200);

    const dump = await request({ host: host(81), port, path: '/config_dump' });
    assert.equal(dump.status, 200);
    assert.equal(dump.headers['content-type'], 'application/json');
    const d = JSON.parse(dump.body);
    assert.equal(d.version, '7');
    assert.equal(d.source, 'xds');
    assert.equal(d.node.id, 'api-127.0.30.81');
    assert.deepEqual(d.xds, xds);
    assert.equal(d.listeners[0].name, 'outbound');
    assert.equal(d.listeners[0].bound, true);
    assert.equal(d.routes[0].name, 'outbound');
    assert.equal(d.clusters[0].name, 'api.default');
    assert.equal(d.clusters[0].endpoints[0].port, up.port);
    assert.equal(d.endpoints[0].clusterName, 'api.default');

    const m = await request({ host: host(81), port, path: '/metrics' });
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'] as string, /^text\/plain/);
    assert.match(m.body, /trellis_requests_total\{direction="outbound",route="api",cluster="api.default",status_code="200",error=""[^}]*\} 1/);
    assert.match(m.body, /trellis_request_duration_seconds_bucket\{direction="outbound",route="api",cluster="api.default",[^}]*le="0.001"\}/);
    assert.match(m.body, /trellis_request_duration_seconds_count\{direction="outbound",route="api",cluster="api.default"[^}]*\} 1/);
    assert.match(m.body, /trellis_upstream_connections_total\{cluster="api.default"\} 1/);
    assert.match(m.body, /trellis_upstream_connections_active\{cluster="api.default"\} 1/);
    assert.match(m.body, /trellis_config_version_info\{version="7",source="xds"\} 1/);
    assert.match(m.body, /trellis_proxy_process_resident_memory_bytes/);

    assert.equal((await request({ host: host(81), port, path: '/nope' })).status, 404);

    await rt.drain(100);
    assert.equal((await request({ host: host(81), port, path: '/ready' })).status, 503, 'not ready once draining');
  } finally {
    await rt.drain(0);
    await admin.close();
    await up.close();
  }
});
