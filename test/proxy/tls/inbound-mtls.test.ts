// mTLS on a real inbound listener, checked from outside with Debian's openssl s_client and curl:
// strict refuses plaintext, a certificate from another CA and an expired one, and accepts a mesh
// certificate; permissive accepts and counts plaintext; a sidecar pair talks mTLS, checks who
// answers, and authorization sees the caller's verified identity.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { MeshTls } from '../../../src/proxy/tls/mesh-tls.js';
import type { ListenerConfig, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import type { AuthzConfig } from '../../../src/proxy/authz/authz-config.js';
import { cluster, endpoint, httpUpstream, request, outboundConfig, freePort, type Upstream } from '../proxy-test-support.js';
import { makeCa, makeLeaf, material, PemFiles, SettableIdentity, tlsHost, type Leaf, type TestCa } from './tls-test-support.js';

const td = 'spiffe://cluster.local/ns/default/svc/';
let meshCa: TestCa;
let foreignCa: TestCa;
let files: PemFiles;
let app: Upstream;
const appSeen: string[] = [];

before(async () => {
  meshCa = await makeCa('mesh root');
  foreignCa = await makeCa('someone else');
  files = new PemFiles();
  app = await httpUpstream(tlsHost(2), (req, res) => {
    appSeen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello from b\n');
  });
});

after(async () => {
  await app.close();
  files.cleanup();
});

function inboundConfig(address: string, port: number, tls: ListenerConfig['tls'], authz?: AuthzConfig, version = '1'): ProxyConfig {
  const inbound: ListenerConfig = { name: 'inbound', address, port, direction: 'inbound', routeConfigName: 'inbound', tls, authz };
  return {
    version, listeners: [inbound], routes: new Map(),
    clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(app.address, app.port)] })]]),
    endpoints: new Map(),
  };
}

async function sidecar(identity: SettableIdentity | null): Promise<{ runtime: ProxyRuntime; mesh: MeshTls; metrics: ProxyMetrics }> {
  const mesh = new MeshTls(identity ?? undefined);
  const metrics = new ProxyMetrics({ processMetrics: false });
  return { runtime: new ProxyRuntime({ metrics, meshTls: mesh }), mesh, metrics };
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** openssl s_client with a client certificate, sending one HTTP request; returns what came back. */
async function sClient(port: number, host: string, leaf: Leaf | null): Promise<string> {
  const args = ['s_client', '-connect', `${host}:${port}`, '-tls1_3', '-alpn', 'http/1.1', '-quiet', '-CAfile', files.write('mesh-ca.pem', meshCa.pem)];
  if (leaf) args.push('-cert', files.write(`${leaf.spiffeId.split('/').pop()}-${leaf.notAfter.getTime()}.pem`, leaf.certPem), '-key', files.write(`${leaf.notAfter.getTime()}-key.pem`, leaf.keyPem));
  const r = await run('openssl', args, 'GET /hello HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n');
  return r.stdout + r.stderr;
}

async function curl(url: string, leaf: Leaf | null): Promise<{ code: number; stdout: string }> {
  const args = ['-sS', '--http1.1', '--max-time', '5', '-k', url];
  if (leaf) args.push('--cert', files.write('curl-cert.pem', leaf.certPem), '--key', files.write('curl-key.pem', leaf.keyPem));
  return run('curl', args);
}

test('strict: plaintext, a foreign CA and an expired certificate are refused; a mesh certificate is served', async () => {
  const b = await makeLeaf(meshCa, `${td}b`);
  const { runtime, mesh, metrics } = await sidecar(new SettableIdentity(material(b, [meshCa])));
  const port = await freePort(tlsHost(3));
  runtime.applyConfig(inboundConfig(tlsHost(3), port, { mode: 'strict', alpn: ['http/1.1'] }));
  await runtime.listening();
  try {
    const plain = await curl(`http://${tlsHost(3)}:${port}/hello`, null);
    assert.notEqual(plain.code, 0, 'plaintext must be refused');
    assert.ok((await metrics.registry.metrics()).includes('trellis_inbound_plaintext_connections_total{mode="strict"} 1'));

    const a = await makeLeaf(meshCa, `${td}a`);
    const ok = await sClient(port, tlsHost(3), a);
    assert.match(ok, /HTTP\/1\.1 200/);
    assert.match(ok, /hello from b/);
    const viaCurl = await curl(`https://${tlsHost(3)}:${port}/hello`, a);
    assert.equal(viaCurl.code, 0);
    assert.equal(viaCurl.stdout, 'hello from b\n');

    const foreign = await makeLeaf(foreignCa, `${td}a`);
    const refusedForeign = await sClient(port, tlsHost(3), foreign);
    assert.doesNotMatch(refusedForeign, /HTTP\/1\.1 200/);
    assert.notEqual((await curl(`https://${tlsHost(3)}:${port}/hello`, foreign)).code, 0);

    const expired = await makeLeaf(meshCa, `${td}a`, { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) });
    const refusedExpired = await sClient(port, tlsHost(3), expired);
    assert.doesNotMatch(refusedExpired, /HTTP\/1\.1 200/);
    assert.notEqual((await curl(`https://${tlsHost(3)}:${port}/hello`, expired)).code, 0);

    const none = await sClient(port, tlsHost(3), null);
    assert.doesNotMatch(none, /HTTP\/1\.1 200/, 'a client without a certificate is refused');
    assert.match(await metrics.registry.metrics(), /trellis_tls_handshake_failures_total\{direction="inbound"\} [3-9]/);
  } finally {
    await runtime.close();
    mesh.close();
  }
});

test('permissive: plaintext and mTLS both served; plaintext connections are counted', async () => {
  const b = await makeLeaf(meshCa, `${td}b`);
  const { runtime, mesh, metrics } = await sidecar(new SettableIdentity(material(b, [meshCa])));
  const port = await freePort(tlsHost(4));
  runtime.applyConfig(inboundConfig(tlsHost(4), port, { mode: 'permissive', alpn: ['http/1.1'] }));
  await runtime.listening();
  try {
    const plain = await request({ host: tlsHost(4), port, path: '/p' });
    assert.equal(plain.status, 200);
    const again = await curl(`http://${tlsHost(4)}:${port}/p`, null);
    assert.equal(again.stdout, 'hello from b\n');
    const tls = await curl(`https://${tlsHost(4)}:${port}/p`, await makeLeaf(meshCa, `${td}a`));
    assert.equal(tls.stdout, 'hello from b\n');
    const text = await metrics.registry.metrics();
    assert.ok(text.includes('trellis_inbound_plaintext_connections_total{mode="permissive"} 2'), text.split('\n').filter((l) => l.includes('plaintext')).join('\n'));
    assert.ok(text.includes('trellis_tls_handshakes_total{direction="inbound",resumed="false"} 1'));
  } finally {
    await runtime.close();
    mesh.close();
  }
});

/** Sidecar A (outbound) → sidecar B (inbound, strict) → app; B's cluster expects `expect` ids. */
async function pair(aLeaf: Leaf, bLeaf: Leaf, expect: string[], authz?: AuthzConfig) {
  const a = await sidecar(new SettableIdentity(material(aLeaf, [meshCa])));
  const bIdentity = new SettableIdentity(material(bLeaf, [meshCa]));
  const b = await sidecar(bIdentity);
  const bPort = await freePort(tlsHost(6));
  b.runtime.applyConfig(inboundConfig(tlsHost(6), bPort, { mode: 'strict', alpn: ['http/1.1'] }, authz));
  const aPort = await freePort(tlsHost(5));
  const out = outboundConfig({ address: tlsHost(5), port: aPort, services: [{ name: 'b', endpoints: [endpoint(tlsHost(6), bPort, { tls: true })] }] });
  out.clusters.get('b.default')!.upstreamTls = { subjectAltNames: expect, alpn: ['http/1.1'], sni: 'b.default' };
  a.runtime.applyConfig(out);
  await Promise.all([a.runtime.listening(), b.runtime.listening()]);
  return {
    a, b, aPort, bIdentity,
    async close() {
      await a.runtime.close();
      await b.runtime.close();
      a.mesh.close();
      b.mesh.close();
    },
  };
}

test('sidecar to sidecar over mTLS; a peer holding another service\'s certificate is not accepted as b', async () => {
  const aLeaf = await makeLeaf(meshCa, `${td}a`);
  const p = await pair(aLeaf, await makeLeaf(meshCa, `${td}b`), [`${td}b`]);
  try {
    const r = await request({ host: tlsHost(5), port: p.aPort, path: '/via-mesh', headers: { host: 'b' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello from b\n');
    assert.match(await p.a.metrics.registry.metrics(), /trellis_tls_handshakes_total\{direction="outbound",resumed="false"\} 1/);
  } finally {
    await p.close();
  }
  // the endpoint answers with c's certificate where b was expected
  const impostor = await pair(aLeaf, await makeLeaf(meshCa, `${td}c`), [`${td}b`]);
  try {
    const before = appSeen.length;
    const r = await request({ host: tlsHost(5), port: impostor.aPort, path: '/impostor', headers: { host: 'b' } });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-trellis-error'], 'upstream-connect');
    assert.equal(appSeen.length, before, 'nothing reached the app');
    assert.match(await impostor.a.metrics.registry.metrics(), /trellis_tls_handshake_failures_total\{direction="outbound"\} [1-9]/);
  } finally {
    await impostor.close();
  }
});

test('authorization sees the caller\'s verified identity: a holds a\'s certificate and cannot pass as c', async () => {
  const onlyC: AuthzConfig = { deny: [], allow: [{ name: 'default/c-only#0', principals: [{ kind: 'id-exact', value: `${td}c` }], permissions: [{ kind: 'any' }] }] };
  const p = await pair(await makeLeaf(meshCa, `${td}a`), await makeLeaf(meshCa, `${td}b`), [`${td}b`], onlyC);
  try {
    const before = appSeen.length;
    const r = await request({ host: tlsHost(5), port: p.aPort, path: '/secret', headers: { host: 'b', 'x-forwarded-client-cert': `URI=${td}c` } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-trellis-error'], 'unauthorized');
    assert.equal(appSeen.length, before, 'the app never sees a denied request');
    assert.ok((await p.b.metrics.registry.metrics()).includes(`trellis_authz_denied_total{source="${td}a",reason="not-allowed"} 1`));
  } finally {
    await p.close();
  }
});

test('rotation: new connections use the new certificate at once, open ones keep going, no request fails', async () => {
  const p = await pair(await makeLeaf(meshCa, `${td}a`), await makeLeaf(meshCa, `${td}b`), [`${td}b`]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const aClient = await makeLeaf(meshCa, `${td}a`);
  try {
    let failures = 0;
    let done = 0;
    let stop = false;
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const r = await request({ host: tlsHost(5), port: p.aPort, path: '/load', headers: { host: 'b' }, agent }).catch(() => ({ status: 0 }));
        if (r.status !== 200) failures++;
        done++;
      }
    });
    const serialSeen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const next = await makeLeaf(meshCa, `${td}b`);
      p.bIdentity.set(material(next, [meshCa]));
      // a fresh connection sees the new certificate at once
      const bPort = (p.b.runtime.activeListeners().get('inbound')!.address as AddressInfo).port;
      const served = await servedCertificate(tlsHost(6), bPort, aClient);
      assert.equal(served, new X509Certificate(next.certPem).fingerprint256, `rotation ${i + 1}: the new certificate is served`);
      serialSeen.add(served);
      // drop pooled sockets so the next requests open connections with the rotated peer
      for (const c of [p.a.runtime.clusters.get('b.default')!]) for (const h of c.hosts) h.pool.closeIdle();
    }
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(load);
    assert.equal(failures, 0, `${failures} of ${done} requests failed during rotation`);
    assert.ok(done > 20, `steady load ran (${done} requests)`);
    assert.equal(serialSeen.size, 3);
  } finally {
    agent.destroy();
    await p.close();
  }
});

/** The fingerprint of the certificate a TLS server presents to a client holding `client`. */
function servedCertificate(host: string, port: number, client: Leaf): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, cert: client.certPem, key: client.keyPem, ca: [meshCa.pem], checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fp);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    socket.on('error', reject);
  });
}

test('switching to strict closes plaintext connections that permissive mode had accepted', async () => {
  const b = await makeLeaf(meshCa, `${td}b`);
  const { runtime, mesh } = await sidecar(new SettableIdentity(material(b, [meshCa])));
  const port = await freePort(tlsHost(7));
  runtime.applyConfig(inboundConfig(tlsHost(7), port, { mode: 'permissive', alpn: ['http/1.1'] }));
  await runtime.listening();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await request({ host: tlsHost(7), port, path: '/k', agent })).status, 200);
    const [socket] = Object.values(agent.freeSockets).flat();
    assert.ok(socket, 'a keep-alive plaintext connection is open');
    const closed = new Promise<void>((resolve) => socket!.once('close', () => resolve()));
    runtime.applyConfig(inboundConfig(tlsHost(7), port, { mode: 'strict', alpn: ['http/1.1'] }, undefined, '2'));
    await closed;
    const r = await request({ host: tlsHost(7), port, path: '/k', agent }).catch((err: Error) => err);
    assert.ok(r instanceof Error, 'a new plaintext request is refused');
  } finally {
    agent.destroy();
    await runtime.close();
    mesh.close();
  }
});
