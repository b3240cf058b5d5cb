import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Started } from '../../src/common/process-group.js';
import { EtcdCluster, etcdMissing } from '../control/store/etcd-cluster.js';
import { Mesh, SteadyLoad, waitFor, type Pod } from './mesh-harness.js';

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 8000 }] }
`;

const toWeb = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-to-web }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /to-web } }]
      backendRefs: [{ name: web }]
    - backendRefs: [{ name: api }]
`;

const service = (name: string) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec: { ports: [{ port: 8000 }] }
`;

// Two control-plane replicas on one 3-member etcd cluster; sidecars on each replica.
describe('control-plane replicas sharing etcd', { skip: etcdMissing, concurrency: false, timeout: 240_000 }, () => {
  const mesh = new Mesh('127.0.64');
  const replicaA = mesh.controlAddress;
  const replicaB = '127.0.64.2';
  const apiA = `http://${replicaA}:15080`;
  const apiB = `http://${replicaB}:15080`;
  let etcd: EtcdCluster | undefined;
  let controlA: Started;
  let clientA: Pod;
  let clientB: Pod;

  const proxies = async (api: string): Promise<Record<string, any>[]> => (await fetch(`${api}/api/v1/proxies`)).json() as Promise<Record<string, any>[]>;
  const health = async (api: string): Promise<Record<string, any>> => (await fetch(`${api}/api/v1/health`)).json() as Promise<Record<string, any>>;
  const names = async (api: string): Promise<string[]> =>
    ((await (await fetch(`${api}/api/v1/resources`)).json()) as { metadata: { name: string } }[]).map((r) => r.metadata.name).sort();
  /** Every replica lists all `n` proxies as connected, each with its latest config ACKed. */
  const allInSync = (n: number) => waitFor(async () => {
    for (const api of [apiA, apiB]) {
      const list = (await proxies(api)).filter((p) => p.connected);
      if (list.length < n || !list.every((p) => p.ackedVersion !== null && p.ackedVersion === p.sentVersion)) return false;
    }
    return true;
  }, 20_000, `both replicas to show ${n} proxies in sync`);

  before(async () => {
    etcd = await EtcdCluster.start('127.0.64', 201);
    // a long grace: the sidecars of a killed replica stay routable while they keep serving
    const args = ['--store', etcd.url];
    controlA = await mesh.startControl({ grace: '10s', args });
    await mesh.startControl({ address: replicaB, grace: '10s', args });
    const applied = await mesh.apply(services);
    assert.equal(applied.code, 0, applied.stderr);
    await mesh.addPod('api-a', 'api', {}, { control: replicaA });
    clientA = await mesh.addPod('client-a', 'client', {}, { control: replicaA });
    await mesh.addPod('web-b', 'web', {}, { control: replicaB });
    clientB = await mesh.addPod('client-b', 'client', {}, { control: replicaB });
    await allInSync(4);
  });
  after(async () => {
    await mesh.close();
    await etcd?.close();
  });

  it('routes to endpoints learned by the other replica', async () => {
    const viaB = await waitFor(async () => {
      const r = await mesh.request(clientB, 'api', '/');
      return r.status === 200 ? r : undefined;
    }, 15_000, 'client-b (on replica B) to reach api-a (on replica A)');
    assert.equal(JSON.parse(viaB.body).pod, 'api-a');
    const viaA = await mesh.request(clientA, 'web', '/');
    assert.equal(viaA.status, 200, viaA.body);
    assert.equal(JSON.parse(viaA.body).pod, 'web-b');
  });

  it('shows every proxy and its xDS progress from either replica', async () => {
    for (const api of [apiA, apiB]) {
      const list = await proxies(api);
      assert.deepEqual(list.map((p) => p.id).sort(), ['api-a', 'client-a', 'client-b', 'web-b']);
      for (const p of list) assert.ok(p.ackedVersion !== null && p.ackedVersion === p.sentVersion, `${p.id} on ${api}: ${JSON.stringify(p)}`);
    }
  });

  it('an apply through replica A reaches the sidecars of replica B', async () => {
    const applied = await mesh.apply(toWeb, 'route.yaml', apiA);
    assert.equal(applied.code, 0, applied.stderr);
    const r = await waitFor(async () => {
      const res = await mesh.request(clientB, 'api', '/to-web/x');
      return res.status === 200 && JSON.parse(res.body).pod === 'web-b' ? res : undefined;
    }, 30_000, 'client-b to follow the route applied through replica A');
    assert.equal(JSON.parse(r.body).path, '/to-web/x');
  });

  it('concurrent applies through the two replicas lose neither change', async () => {
    const [a, b] = await Promise.all([mesh.apply(service('extra-a'), 'a.yaml', apiA), mesh.apply(service('extra-b'), 'b.yaml', apiB)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const api of [apiA, apiB]) {
      await waitFor(async () => {
        const n = await names(api);
        return n.includes('extra-a') && n.includes('extra-b');
      }, 10_000, `${api} to list both services`);
    }
  });

  it('with etcd down: keeps serving, refuses writes with 503, says degraded, recovers', async () => {
    await etcd!.killAll();
    const h = await waitFor(async () => {
      const body = await health(apiB);
      return body.status === 'degraded' ? body : undefined;
    }, 20_000, 'replica B to report degraded');
    assert.match(h.reason, /store unavailable: read-only/);
    const refused = await mesh.apply(service('refused'), 'refused.yaml', apiB);
    assert.notEqual(refused.code, 0, 'the CLI fails when the store is read-only');
    assert.match(refused.stderr, /503 store unavailable: read-only/);
    for (let i = 0; i < 5; i++) {
      const r = await mesh.request(clientB, 'api', '/');
      assert.equal(r.status, 200, 'traffic flows on the last snapshot');
    }
    assert.ok((await names(apiB)).includes('extra-b'), 'reads are served from the last state');

    await etcd!.restartAll();
    await waitFor(async () => (await health(apiA)).status === 'ok' && (await health(apiB)).status === 'ok', 30_000, 'both replicas to be healthy again');
    const applied = await mesh.apply(service('after-outage'), 'after.yaml', apiB);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor(async () => (await names(apiA)).includes('after-outage'), 10_000, 'replica A to see the write made through B');
  });

  it('killing a replica leaves traffic flowing', async () => {
    const loadB = new SteadyLoad(mesh, clientB, 'api', 2);
    const loadA = new SteadyLoad(mesh, clientA, 'web', 2);
    await new Promise((r) => setTimeout(r, 500));
    await mesh.group.stop(controlA, 'SIGKILL');
    // long enough for replica A's lease to run out and replica B to notice it is gone
    await waitFor(async () => {
      const list = await proxies(apiB);
      return list.find((p) => p.id === 'api-a')?.state === 'restored';
    }, 30_000, 'replica B to see replica A gone').catch(async (err) => {
      throw new Error(`${(err as Error).message}; B lists ${JSON.stringify(await proxies(apiB))}`);
    });
    await new Promise((r) => setTimeout(r, 1000));
    await loadB.stop();
    await loadA.stop();
    assert.ok(loadB.outcomes.length > 20 && loadA.outcomes.length > 20, `load ran: ${loadB.outcomes.length} and ${loadA.outcomes.length} requests`);
    assert.deepEqual(loadB.failures(), [], 'client-b → api-a (whose replica died)');
    assert.deepEqual(loadA.failures(), [], 'client-a (whose replica died) → web-b');
    assert.ok(loadB.outcomes.every((o) => o.pod === 'api-a'));
  });
});
