// h2UpgradePolicy between real sidecars over mTLS (127.0.96.0/24): by default (DO_NOT_UPGRADE, as
// in Istio) HTTP/1.1 requests travel between sidecars on HTTP/1.1 connections, one request per
// connection at a time; MeshConfig UPGRADE puts them on one multiplexed HTTP/2 session; a
// ResiliencePolicy's connectionPool.h2UpgradePolicy overrides the mesh for one Service. What is
// judged is what the wire shows: how many connections the caller's sidecar opened for 8
// concurrent requests, and what the app behind the other sidecar received.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
`;

const meshConfig = (policy: string) => `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { mtls: { mode: strict }, h2UpgradePolicy: ${policy} }
`;

async function apiCluster(pod: Pod): Promise<Record<string, any>> {
  const dump = (await (await fetch(`http://${pod.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json()) as { clusters: Record<string, any>[] };
  const cluster = dump.clusters.find((c) => c.name === 'api.default');
  assert.ok(cluster, 'the caller holds the api cluster');
  return cluster;
}

const policy = (upgrade: string | null) => `apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api-pool }
spec:
  targetRef: { kind: Service, name: api }
  timeouts: { idle: 1s }
${upgrade === null ? '' : `  connectionPool: { h2UpgradePolicy: ${upgrade} }\n`}`;

const opened = (pod: Pod) => metric(pod, /^trellis_upstream_connections_total\{cluster="api\.default"\}/);

describe('h2UpgradePolicy: how HTTP/1.1 travels between sidecars', () => {
  const mesh = new Mesh('127.0.96');
  let web: Pod;

  /** 8 requests held 400 ms by the app at once; what the app saw, and the connections web's sidecar opened for them. */
  async function concurrentBurst(): Promise<{ newConnections: number }> {
    // idle connections of an earlier burst or footing must not carry these: wait until none is open
    await waitFor(async () => (await metric(web, /^trellis_upstream_connections_active\{cluster="api\.default"\}/)) === 0 || undefined, 15_000, 'idle upstream connections to close');
    const before = await opened(web);
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => mesh.request(web, 'api', `/slow/400?n=${i}`)));
    for (const r of replies) {
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).pod, 'api-1');
    }
    return { newConnections: (await opened(web)) - before };
  }

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services)).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    await mesh.addPod('api-1', 'api', {}, { token: await token('api') });
    web = await mesh.addPod('web-1', 'web', {}, { token: await token('web') });
    assert.equal((await mesh.apply(meshConfig('DO_NOT_UPGRADE'), 'mesh.yaml')).code, 0);
    // a short idle time, so each burst starts without idle connections
    assert.equal((await mesh.apply(policy(null), 'policy.yaml')).code, 0);
    await mesh.waitInSync(15_000, 2);
    await waitFor(async () => (await mesh.request(web, 'api', '/warm')).status === 200 || undefined, 20_000, 'web to reach api over mTLS');
  });

  after(() => mesh.close());

  it('DO_NOT_UPGRADE (the default): concurrent HTTP/1.1 requests each take an HTTP/1.1 connection', { timeout: 60_000 }, async () => {
    assert.equal((await apiCluster(web)).upstreamProtocol, 'downstream', 'each request in the protocol it came in');
    const { newConnections } = await concurrentBurst();
    assert.ok(newConnections >= 8, `8 requests in flight at once need 8 HTTP/1.1 connections; opened ${newConnections}`);
    assert.ok((await metric(web, /^trellis_tls_handshakes_total\{direction="outbound"/)) > 0, 'over mTLS');
  });

  it('MeshConfig UPGRADE: the same requests share one HTTP/2 session; back to DO_NOT_UPGRADE undoes it', { timeout: 60_000 }, async () => {
    assert.equal((await mesh.apply(meshConfig('UPGRADE'), 'mesh.yaml')).code, 0);
    await mesh.waitInSync(15_000, 2);
    assert.equal((await apiCluster(web)).upstreamProtocol, 'h2');
    const upgraded = await concurrentBurst();
    assert.ok(upgraded.newConnections >= 1 && upgraded.newConnections <= 2, `one HTTP/2 session carries all 8 (a second only if the first went away); opened ${upgraded.newConnections}`);

    assert.equal((await mesh.apply(meshConfig('DO_NOT_UPGRADE'), 'mesh.yaml')).code, 0);
    await mesh.waitInSync(15_000, 2);
    assert.equal((await apiCluster(web)).upstreamProtocol, 'downstream');
  });

  it("a ResiliencePolicy's connectionPool.h2UpgradePolicy overrides the mesh for its Service", { timeout: 60_000 }, async () => {
    assert.equal((await mesh.apply(meshConfig('UPGRADE'), 'mesh.yaml')).code, 0);
    assert.equal((await mesh.apply(policy('DO_NOT_UPGRADE'), 'policy.yaml')).code, 0);
    await mesh.waitInSync(15_000, 2);
    assert.equal((await apiCluster(web)).upstreamProtocol, 'downstream', 'the Service keeps HTTP/1.1 although the mesh upgrades');
    const { newConnections } = await concurrentBurst();
    assert.ok(newConnections >= 8, `HTTP/1.1 connections again; opened ${newConnections}`);

    // DEFAULT: the mesh's policy again
    assert.equal((await mesh.apply(policy('DEFAULT'), 'policy.yaml')).code, 0);
    await mesh.waitInSync(15_000, 2);
    assert.equal((await apiCluster(web)).upstreamProtocol, 'h2');
  });

  it('a bad value is refused with its field path and nothing changes', { timeout: 30_000 }, async () => {
    const r = await mesh.apply(meshConfig('SOMETIMES'), 'bad-mesh.yaml');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad-mesh\.yaml/);
    assert.match(r.stderr, /spec\.h2UpgradePolicy/);
    assert.equal((await apiCluster(web)).upstreamProtocol, 'h2', 'the stored MeshConfig (UPGRADE) still rules');
  });
});
