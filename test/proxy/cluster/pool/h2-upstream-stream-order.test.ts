// An HTTP/2 response whose HEADERS and DATA frames arrive in one read (over mTLS both sit in one
// TLS record): node:http2 announces the head on the next tick but may push the body at once, so
// a stream read from its start can hand the body over before its head. The body must still
// follow the head downstream: before the fix the HTTP/1 response went out with an implicit head,
// the real one was refused (502 upstream-protocol-error in the metrics) and the client saw its
// connection cut (bench trellis-mesh-mtls: 748 wrk read errors). Sidecar A (outbound) ⇒ mTLS,
// ALPN h2 ⇒ sidecar B (inbound, strict) → HTTP/1.1 app. Addresses: 127.0.89.0/24.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxyRuntime } from '../../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../../src/proxy/telemetry/metrics.js';
import { MeshTls } from '../../../../src/proxy/tls/mesh-tls.js';
import { defaultHttp2Options } from '../../../../src/proxy/cluster/pool/h2-session-pool.js';
import type { ProxyConfig } from '../../../../src/proxy/config/proxy-config.js';
import { cluster, endpoint, freePort, httpUpstream, outboundConfig, request, type Upstream } from '../../proxy-test-support.js';
import { makeCa, makeLeaf, material, SettableIdentity } from '../../tls/tls-test-support.js';

const addr = (n: number): string => `127.0.89.${n}`;
const td = 'spiffe://cluster.local/ns/default/svc/';
const body = 'x'.repeat(100);

let app: Upstream;
const runtimes: ProxyRuntime[] = [];
const meshes: MeshTls[] = [];
let metricsA: ProxyMetrics;
let port = 0;

before(async () => {
  const ca = await makeCa('mesh root');
  app = await httpUpstream(addr(22), (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
  });
  const sidecar = async (svc: string): Promise<{ runtime: ProxyRuntime; metrics: ProxyMetrics }> => {
    const mesh = new MeshTls(new SettableIdentity(material(await makeLeaf(ca, `${td}${svc}`), [ca])));
    const metrics = new ProxyMetrics({ processMetrics: false });
    const runtime = new ProxyRuntime({ metrics, meshTls: mesh, listenerDrainMs: 100 });
    meshes.push(mesh);
    runtimes.push(runtime);
    return { runtime, metrics };
  };
  const b = await sidecar('b');
  const bPort = await freePort(addr(21));
  const inbound: ProxyConfig = {
    version: '1',
    listeners: [{ name: 'inbound', address: addr(21), port: bPort, direction: 'inbound', routeConfigName: 'inbound', tls: { mode: 'strict', alpn: ['h2', 'http/1.1'] } }],
    routes: new Map(), endpoints: new Map(),
    clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(app.address, app.port)] })]]),
  };
  b.runtime.applyConfig(inbound);
  const a = await sidecar('a');
  metricsA = a.metrics;
  port = await freePort(addr(20));
  const out = outboundConfig({ address: addr(20), port, services: [{ name: 'b', endpoints: [endpoint(addr(21), bPort, { tls: true })] }] });
  out.clusters.set('b.default', {
    ...out.clusters.get('b.default')!,
    upstreamTls: { subjectAltNames: [`${td}b`], alpn: ['h2', 'http/1.1'], sni: 'b.default' },
    upstreamProtocol: 'h2', http2: defaultHttp2Options,
  });
  a.runtime.applyConfig(out);
  await Promise.all(runtimes.map((r) => r.listening()));
});

after(async () => {
  for (const r of runtimes) await r.close();
  for (const m of meshes) m.close();
  await app.close();
});

test('a response whose body arrives with its head is relayed head first, every time', async () => {
  // rounds of parallel requests on one session, so frames of many streams share reads
  for (let round = 0; round < 10; round++) {
    const replies = await Promise.all(Array.from({ length: 50 }, () => request({ host: addr(20), port, headers: { host: 'b' } })));
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-trellis-error'], undefined);
      assert.equal(r.headers['content-type'], 'text/plain');
      assert.equal(r.body, body);
    }
  }
  assert.doesNotMatch(await metricsA.registry.metrics(), /upstream-protocol-error/);
});
