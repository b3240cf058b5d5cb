import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, SteadyLoad, waitFor, type Pod } from './mesh-harness.js';

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api-v1 }
spec: { ports: [{ port: 8000 }], selector: { app: api, version: v1 } }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api-v2 }
spec: { ports: [{ port: 8000 }], selector: { app: api, version: v2 } }
`;

const route = (v1: number, v2: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2-only } }]
      backendRefs: [{ name: api-v2 }]
    - matches: [{ path: { type: Exact, value: /pinned } }]
      backendRefs: [{ name: api-v1 }]
    - backendRefs:
        - { name: api-v1, weight: ${v1} }
        - { name: api-v2, weight: ${v2} }
`;

describe('routing through the mesh', () => {
  const mesh = new Mesh('127.0.51');
  let client: Pod;

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services + '---' + route(100, 0))).code, 0);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('api-v1-1', 'api', { version: 'v1' });
    await mesh.addPod('api-v2-1', 'api', { version: 'v2' });
    await mesh.waitInSync(15_000, 3);
  });
  after(() => mesh.close());

  it('sends each request where its route says', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await mesh.request(client, 'api', '/anything');
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).pod, 'api-v1-1');
    }
    const v2 = await mesh.request(client, 'api', '/v2-only/item');
    assert.equal(JSON.parse(v2.body).pod, 'api-v2-1');
    const pinned = await mesh.request(client, 'api.default.svc.cluster.local:8000', '/pinned');
    assert.equal(JSON.parse(pinned.body).pod, 'api-v1-1');
    const direct = await mesh.request(client, 'api-v2', '/');
    assert.equal(JSON.parse(direct.body).pod, 'api-v2-1');
  });

  it('answers an unknown host with 404 no-route', async () => {
    const r = await mesh.request(client, 'nowhere', '/');
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-trellis-error'], 'no-route');
  });

  it('applies a weight change to the next requests without failing one under load', async () => {
    const load = new SteadyLoad(mesh, client, 'api', 4);
    await waitFor(async () => load.outcomes.length >= 100, 20_000, 'load to start');
    assert.equal((await mesh.apply(route(0, 100))).code, 0);
    await mesh.waitInSync();
    const mark = load.outcomes.length;
    await waitFor(async () => load.outcomes.length >= mark + 100, 20_000, '100 more requests');
    await load.stop();
    assert.deepEqual(load.failures(), [], 'no request may fail during the change');
    const afterChange = load.outcomes.slice(mark);
    assert.ok(afterChange.every((o) => o.pod === 'api-v2-1'), 'after the proxies ACKed, every request goes to v2');
    assert.ok(load.outcomes.slice(0, 50).every((o) => o.pod === 'api-v1-1'), 'before, every request went to v1');
  });

  it('splits by weight', async () => {
    assert.equal((await mesh.apply(route(50, 50))).code, 0);
    await mesh.waitInSync();
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const pod = JSON.parse((await mesh.request(client, 'api', '/')).body).pod as string;
      counts[pod] = (counts[pod] ?? 0) + 1;
    }
    // 200 draws at p=0.5: below 60 for either side has a probability of about 1e-8.
    assert.ok(counts['api-v1-1'] > 60 && counts['api-v2-1'] > 60, JSON.stringify(counts));
  });

  it('refuses an invalid document, names it, and changes nothing', async () => {
    const before = await mesh.getJson('routes');
    const bad = route(10, 90) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: broken }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs: [{ name: api-v1, weight: -5 }]
`;
    const r = await mesh.apply(bad, 'bad-route.yaml');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad-route\.yaml: document 2 \(line \d+\) HTTPRoute\/broken: spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
    assert.deepEqual(await mesh.getJson('routes'), before, 'the valid first document must not have been applied either');
  });

  it('lists proxies, endpoints and services as JSON', async () => {
    const proxies = await mesh.getJson('proxies');
    const ids = proxies.map((p) => p.id).sort();
    assert.deepEqual(ids, ['api-v1-1', 'api-v2-1', 'client-1']);
    for (const p of proxies) {
      assert.equal(p.connected, true);
      assert.equal(p.lastNack, null);
      assert.equal(typeof p.ackedVersion, 'string');
      assert.ok(p.address.startsWith('127.0.51.'));
    }
    const endpoints = await mesh.getJson('endpoints');
    const api = endpoints.filter((e) => e.service === 'api');
    assert.equal(api.length, 2);
    for (const e of api) {
      assert.equal(e.state, 'healthy');
      assert.equal(e.port, 15006);
      assert.equal(e.labels.app, 'api');
    }
    const services = await mesh.getJson('services');
    assert.ok(services.some((s) => s.metadata?.name === 'api-v1' && s.spec.selector.version === 'v1'));
    const table = await mesh.cli(['get', 'proxies']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+SERVICE\s+ADDRESS/);
  });
});
