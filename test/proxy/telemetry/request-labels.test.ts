// The request metrics' peer labels on real sockets (this suite's range 127.0.37.0/24): sidecar
// web (outbound) → sidecar api (inbound, strict mTLS) → app. Both sides label method,
// classification, source and destination service and identity; a plaintext caller is
// `unknown`; TCP connection metrics count both sides.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { ProxyTelemetry } from '../../../src/proxy/telemetry/request-telemetry.js';
import { MeshTls } from '../../../src/proxy/tls/mesh-tls.js';
import type { ListenerConfig, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { cluster, endpoint, freePort, httpUpstream, outboundConfig, request, type Upstream } from '../proxy-test-support.js';
import { makeCa, makeLeaf, material, SettableIdentity, type TestCa } from '../tls/tls-test-support.js';

const lhost = (n: number): string => `127.0.37.${n}`;
const td = 'spiffe://cluster.local/ns/default/svc/';
let ca: TestCa;
let app: Upstream;

before(async () => {
  ca = await makeCa('mesh root');
  app = await httpUpstream(lhost(2), (req, res) => {
    res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
});

after(async () => {
  await app.close();
});

async function sidecar(service: string) {
  const mesh = new MeshTls(new SettableIdentity(material(await makeLeaf(ca, `${td}${service}`), [ca])));
  const telemetry = new ProxyTelemetry();
  telemetry.setLocal({ service, namespace: 'default', proxy: `${service}-1` });
  const metrics = new ProxyMetrics({ processMetrics: false, telemetry });
  return { runtime: new ProxyRuntime({ metrics, meshTls: mesh, listenerDrainMs: 100 }), mesh, metrics };
}

function inboundConfig(address: string, port: number, tls: ListenerConfig['tls']): ProxyConfig {
  return {
    version: '7',
    listeners: [{ name: 'inbound', address, port, direction: 'inbound', routeConfigName: 'inbound', tls }],
    routes: new Map(),
    clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(app.address, app.port)] })]]),
    endpoints: new Map(),
  };
}

/** The value of the one sample of `name` whose labels include all of `labels` (in any order). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const have = line.slice(name.length + 1, close).split(/,(?=[a-z_]+=")/);
    if (want.every((w) => have.includes(w))) return Number(line.slice(close + 2));
  }
  return undefined;
}

test('outbound and inbound requests carry method, classification, source and destination service and identity', async () => {
  const web = await sidecar('web');
  const api = await sidecar('api');
  try {
    const apiPort = await freePort(lhost(4));
    api.runtime.applyConfig(inboundConfig(lhost(4), apiPort, { mode: 'strict', alpn: ['http/1.1'] }));
    const webPort = await freePort(lhost(3));
    const out = outboundConfig({ address: lhost(3), port: webPort, services: [{ name: 'api', endpoints: [endpoint(lhost(4), apiPort, { tls: true })] }] });
    out.clusters.get('api.default')!.upstreamTls = { subjectAltNames: [`${td}api`], alpn: ['http/1.1'], sni: 'api.default' };
    web.runtime.applyConfig(out);
    await Promise.all([web.runtime.listening(), api.runtime.listening()]);

    const call = (method: string, path: string) => request({ host: lhost(3), port: webPort, method, path, headers: { host: 'api' }, body: method === 'POST' ? 'x' : undefined });
    assert.equal((await call('POST', '/ok')).status, 200);
    assert.equal((await call('GET', '/ok')).status, 200);
    assert.equal((await call('GET', '/fail')).status, 503);
    assert.equal((await call('PROPFIND', '/ok')).status, 200);

    const edge = { source_service: 'web.default', destination_service: 'api.default', source_identity: `${td}web`, destination_identity: `${td}api` };
    const wt = await web.metrics.text();
    const outbound = { direction: 'outbound', route: 'api', cluster: 'api.default', ...edge };
    assert.equal(sample(wt, 'trellis_requests_total', { ...outbound, method: 'POST', status_code: '200', error: '', classification: 'success' }), 1, wt);
    assert.equal(sample(wt, 'trellis_requests_total', { ...outbound, method: 'GET', status_code: '200', classification: 'success' }), 1);
    assert.equal(sample(wt, 'trellis_requests_total', { ...outbound, method: 'GET', status_code: '503', classification: 'failure' }), 1);
    assert.equal(sample(wt, 'trellis_requests_total', { ...outbound, method: 'other', status_code: '200', classification: 'success' }), 1);
    assert.equal(sample(wt, 'trellis_request_duration_seconds_count', { ...outbound, method: 'GET', classification: 'failure' }), 1);
    assert.equal(sample(wt, 'trellis_request_duration_seconds_count', { ...outbound, method: 'GET', classification: 'success' }), 1);

    const at = await api.metrics.text();
    const inbound = { direction: 'inbound', route: 'inbound', cluster: 'inbound|local', ...edge };
    assert.equal(sample(at, 'trellis_requests_total', { ...inbound, method: 'POST', status_code: '200', classification: 'success' }), 1, at);
    assert.equal(sample(at, 'trellis_requests_total', { ...inbound, method: 'GET', status_code: '503', classification: 'failure' }), 1);
    assert.equal(sample(at, 'trellis_request_duration_seconds_count', { ...inbound, method: 'other', classification: 'success' }), 1);

    // TCP: the app's connection to web's listener and web's one mTLS connection to api.
    assert.ok((sample(wt, 'trellis_downstream_connections_total', { direction: 'outbound' }) ?? 0) >= 1);
    assert.ok((sample(wt, 'trellis_downstream_received_bytes_total', { direction: 'outbound' }) ?? 0) > 0);
    assert.ok((sample(wt, 'trellis_downstream_sent_bytes_total', { direction: 'outbound' }) ?? 0) > 0);
    assert.ok((sample(wt, 'trellis_upstream_connections_total', { cluster: 'api.default' }) ?? 0) >= 1);
    assert.ok((sample(wt, 'trellis_upstream_sent_bytes_total', { cluster: 'api.default' }) ?? 0) > 0);
    assert.ok((sample(wt, 'trellis_upstream_received_bytes_total', { cluster: 'api.default' }) ?? 0) > 0);
    assert.ok((sample(at, 'trellis_downstream_connections_active', { direction: 'inbound' }) ?? 0) >= 1, 'web keeps its connection to api open');
    assert.ok((sample(at, 'trellis_downstream_received_bytes_total', { direction: 'inbound' }) ?? 0) > 0);
    assert.equal(sample(at, 'trellis_config_version_info', { version: '7', source: 'xds' }), 1);
  } finally {
    await web.runtime.close();
    await api.runtime.close();
    web.mesh.close();
    api.mesh.close();
  }
});

test('inbound without mTLS: the caller is unknown; connections closed are counted', async () => {
  const api = await sidecar('api');
  try {
    const port = await freePort(lhost(5));
    api.runtime.applyConfig(inboundConfig(lhost(5), port, undefined));
    await api.runtime.listening();
    assert.equal((await request({ host: lhost(5), port, method: 'DELETE', path: '/x', headers: { connection: 'close' } })).status, 200);
    const text = await api.metrics.text();
    assert.equal(sample(text, 'trellis_requests_total', {
      direction: 'inbound', method: 'DELETE', classification: 'success', source_service: 'unknown', source_identity: 'unknown',
      destination_service: 'api.default', destination_identity: `${td}api`,
    }), 1, text);
    let closed = 0;
    for (let i = 0; i < 50 && closed < 1; i++) {
      closed = sample(await api.metrics.text(), 'trellis_downstream_connections_closed_total', { direction: 'inbound' }) ?? 0;
      if (closed < 1) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(closed, 1);
  } finally {
    await api.runtime.close();
    api.mesh.close();
  }
});

test('requests recorded without a request object still bind once and label method other, peers unknown', async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const s = m.routeStatsFor('inbound', '', 'inbound|local');
  s.record(200, null, 0.01);
  s.record(200, null, 0.01);
  const text = await m.text();
  assert.equal(sample(text, 'trellis_requests_total', { direction: 'inbound', method: 'other', classification: 'success', source_service: 'unknown', destination_service: 'unknown' }), 2);
});
