// A connection a client has closed must give its slot of the sidecar's connection cap back at
// once, whatever stage it reached on the inbound mTLS listener: accepted but silent (a TCP
// connect, a health check), or past the handshake with ALPN h2 and then closed (a handshake
// benchmark, a peer that gave up). The inbound front is half-open (for tunnels), so a FIN alone
// used to leave the socket open until the 10 s first-byte timeout: a burst of short connections
// filled the cap and the next mTLS handshakes were reset (bench: 9,658 ECONNRESET).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { MeshTls } from '../../../src/proxy/tls/mesh-tls.js';
import type { ListenerConfig, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { cluster, endpoint, freePort, httpUpstream, withTimeout, type Upstream } from '../proxy-test-support.js';
import { makeCa, makeLeaf, material, SettableIdentity, type Leaf, type TestCa } from './tls-test-support.js';

const addr = (n: number): string => `127.0.89.${n}`;
const td = 'spiffe://cluster.local/ns/default/svc/';
/** Small, so a handful of leaked connections fills it. */
const maxConnections = 4;
const burst = 3 * maxConnections;

let ca: TestCa;
let client: Leaf;
let app: Upstream;

before(async () => {
  ca = await makeCa('mesh root');
  client = await makeLeaf(ca, `${td}a`);
  app = await httpUpstream(addr(2), (_req, res) => res.end('ok'));
});

after(async () => {
  await app.close();
});

async function inboundSidecar(address: string): Promise<{ runtime: ProxyRuntime; mesh: MeshTls; port: number }> {
  const server = await makeLeaf(ca, `${td}b`);
  const mesh = new MeshTls(new SettableIdentity(material(server, [ca])));
  const runtime = new ProxyRuntime({ metrics: new ProxyMetrics({ processMetrics: false }), meshTls: mesh, limits: { maxConnections } });
  const port = await freePort(address);
  const inbound: ListenerConfig = { name: 'inbound', address, port, direction: 'inbound', routeConfigName: 'inbound', tls: { mode: 'strict', alpn: ['h2', 'http/1.1'] } };
  const config: ProxyConfig = {
    version: '1', listeners: [inbound], routes: new Map(), endpoints: new Map(),
    clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(app.address, app.port)] })]]),
  };
  runtime.applyConfig(config);
  await runtime.listening();
  return { runtime, mesh, port };
}

/** Connects, then closes (FIN) as soon as connected. */
function connectAndClose(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => {
      s.end();
      resolve();
    });
    s.on('error', reject);
  });
}

/**
 * A full mTLS handshake offering h2: resolves with the negotiated ALPN once the server's session
 * ticket arrived (it sends one only after it verified our certificate); `close` ends it then.
 */
function handshake(host: string, port: number, close: 'end' | 'keep'): Promise<{ alpn: string | false | null; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host, port, cert: client.certPem, key: client.keyPem, ca: ca.pem, ALPNProtocols: ['h2', 'http/1.1'],
      minVersion: 'TLSv1.3', checkServerIdentity: () => undefined,
    });
    s.once('session', () => {
      if (close === 'end') s.end();
      resolve({ alpn: s.alpnProtocol, socket: s });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed by the sidecar before the session ticket')));
  });
}

/** The cap's count of open downstream connections falls to `n` (the server saw the FINs). */
async function slotsBackTo(runtime: ProxyRuntime, n: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (runtime.overload.activeConnections > n) {
    if (Date.now() > deadline) assert.fail(`${runtime.overload.activeConnections} connections still hold slots (want ${n}) 3 s after their clients closed them`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('connections closed before their first byte give their slot back at once', async () => {
  const { runtime, mesh, port } = await inboundSidecar(addr(3));
  try {
    for (let i = 0; i < burst; i++) await connectAndClose(addr(3), port);
    await slotsBackTo(runtime, 0);
    const { alpn, socket } = await withTimeout(handshake(addr(3), port, 'keep'), 5000, 'handshake after a burst of short TCP connections');
    assert.equal(alpn, 'h2');
    socket.destroy();
  } finally {
    await runtime.close();
    mesh.close();
  }
});

test('h2 connections closed by the client after the handshake give their slot back at once', async () => {
  const { runtime, mesh, port } = await inboundSidecar(addr(4));
  try {
    for (let i = 0; i < burst; i++) {
      const { alpn } = await withTimeout(handshake(addr(4), port, 'end'), 5000, `handshake ${i + 1}`);
      assert.equal(alpn, 'h2');
    }
    await slotsBackTo(runtime, 0);
  } finally {
    await runtime.close();
    mesh.close();
  }
});
