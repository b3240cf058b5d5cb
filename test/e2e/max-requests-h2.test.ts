// ResiliencePolicy connectionPool.maxRequestsPerConnection on the HTTP/2 hop between sidecars:
// a real mesh (control plane and two sidecars as processes, MeshConfig mTLS strict) carrying
// gRPC calls from a grpc-js client to a grpc-js server. The client sidecar's sessions to the
// peer each carry at most the limit of streams, each new one a TLS handshake the peer counts;
// calls in flight on a spent session finish; a new limit applies to the session left open.
// Addresses: 127.0.95.100 and up (the pool's own tests use the bottom of 127.0.95.0/24).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';
import { encode, meshClient, startEchoServer, unary, echoMeshServices } from './grpc-echo.js';

const services = `
apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: strict }
---
` + echoMeshServices;

const policy = (limit: number): string => `
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: echo }
spec:
  targetRef: { kind: Service, name: echo }
  connectionPool: { maxRequestsPerConnection: ${limit} }
`;

async function configDump(pod: Pod): Promise<Record<string, any>> {
  return (await (await fetch(`http://${pod.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json()) as Record<string, any>;
}

const opened = /^trellis_upstream_connections_total\{cluster="echo\.default"\}/;
const active = /^trellis_upstream_connections_active\{cluster="echo\.default"\}/;
const spent = /^trellis_upstream_connections_max_requests_total\{cluster="echo\.default"\}/;
const inboundHandshakes = /^trellis_tls_handshakes_total\{direction="inbound"/;

describe('maxRequestsPerConnection on the HTTP/2 hop between sidecars (gRPC, mTLS strict)', () => {
  const mesh = new Mesh('127.0.95', 100);
  let server: Pod;
  let client: Pod;
  let grpcClient: ReturnType<typeof meshClient>;

  /** Counters of both sidecars now, to compare after some calls. */
  const counters = async () => ({
    opened: await metric(client, opened),
    spent: await metric(client, spent),
    handshakes: await metric(server, inboundHandshakes),
  });

  async function callsOk(n: number, concurrent: boolean, delayMs = 0): Promise<void> {
    const call = (i: number) => unary(grpcClient, encode({ key: `c${i}`, delayMs }));
    const results = concurrent ? await Promise.all(Array.from({ length: n }, (_, i) => call(i))) : [];
    if (!concurrent) for (let i = 0; i < n; i++) results.push(await call(i));
    for (const r of results) assert.equal(r.err, null, `a call failed: ${r.err?.message}`);
  }

  /** The limit the client sidecar holds for the echo cluster. */
  async function limitInForce(limit: number): Promise<void> {
    await mesh.waitInSync(15_000, 2);
    await waitFor(async () => {
      const clusters = (await configDump(client)).clusters as Record<string, any>[] | Record<string, Record<string, any>>;
      const list = Array.isArray(clusters) ? clusters : Object.values(clusters);
      return list.some((c) => c.name === 'echo.default' && c.maxRequestsPerConnection === limit);
    }, 15_000, `maxRequestsPerConnection ${limit} in the client sidecar's echo cluster`);
  }

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services + '---' + policy(3))).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    server = await mesh.addPod('echo-1', 'echo', {}, {
      token: await token('echo'),
      app: async (address, port) => (await startEchoServer(address, port, 'echo-1')).stop,
    });
    client = await mesh.addPod('client-1', 'client', {}, { token: await token('client') });
    await waitFor(async () => (await configDump(server)).identity?.serial && (await configDump(client)).identity?.serial, 20_000, 'certificates for both sidecars');
    await limitInForce(3);
    grpcClient = meshClient(client.address, 'echo');
    // the first calls may race the certificates' arrival in the peers' configs
    await waitFor(async () => (await unary(grpcClient, encode({ key: 'warmup' }))).err === null && (await metric(server, inboundHandshakes)) > 0,
      20_000, 'a call over mTLS');
    // start from no open session: a limit of 1 drains whatever the warm-up left
    assert.equal((await mesh.apply(policy(1), 'policy.yaml')).code, 0);
    await limitInForce(1);
    await waitFor(async () => (await metric(client, active)) === 0, 10_000, 'the warm-up session to close');
  });

  after(async () => {
    grpcClient?.close();
    await mesh.close();
  });

  it('N calls with a limit of k open ceil(N/k) sessions, each a new mTLS handshake at the peer', { timeout: 60_000 }, async () => {
    assert.equal((await mesh.apply(policy(3), 'policy.yaml')).code, 0);
    await limitInForce(3);
    const before = await counters();
    await callsOk(7, false);
    const after = await counters();
    assert.equal(after.opened - before.opened, 3, 'ceil(7/3) sessions');
    assert.equal(after.spent - before.spent, 2, 'two of them carried 3 calls and closed');
    assert.equal(after.handshakes - before.handshakes, 3, 'the peer sidecar accepted one mTLS handshake per session');
    await waitFor(async () => (await metric(client, active)) === 1, 10_000, 'only the session with room left open');
  });

  it('calls in flight on a spent session finish; the next call opens a new session', { timeout: 60_000 }, async () => {
    // the session left open has carried 1 of 3: two slow calls fill it, a third needs a new one
    const before = await counters();
    const slow = [unary(grpcClient, encode({ key: 'slow-1', delayMs: 800 })), unary(grpcClient, encode({ key: 'slow-2', delayMs: 800 }))];
    await new Promise((r) => setTimeout(r, 200));
    const third = await unary(grpcClient, encode({ key: 'third' }));
    assert.equal(third.err, null);
    assert.equal((await metric(client, opened)) - before.opened, 1, 'the third call went on a new session');
    for (const r of await Promise.all(slow)) assert.equal(r.err, null, 'calls in flight when the limit was reached finish');
    await waitFor(async () => (await metric(client, active)) === 1, 10_000, 'the spent session closes after its last call');
  });

  it('limit 1: a session (and handshake) per call, concurrent calls included; a new limit applies to the open session', { timeout: 60_000 }, async () => {
    // the open session has carried 1 call: under a limit of 1 it drains at once
    assert.equal((await mesh.apply(policy(1), 'policy.yaml')).code, 0);
    await limitInForce(1);
    await waitFor(async () => (await metric(client, active)) === 0, 10_000, 'the session over the new limit closes');
    const before = await counters();
    await callsOk(6, true, 300);
    await callsOk(4, false);
    const after = await counters();
    assert.equal(after.opened - before.opened, 10, 'a session per call');
    assert.equal(after.spent - before.spent, 10);
    assert.equal(after.handshakes - before.handshakes, 10, 'a handshake per call');
    await waitFor(async () => (await metric(client, active)) === 0, 10_000, 'no session left open');
  });
});
