import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, SteadyLoad, waitFor, type Pod } from './mesh-harness.js';

const route = (backend: string) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: blue }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: green }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: shop }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ name: shop }]
  rules: [{ backendRefs: [{ name: ${backend} }] }]
`;

describe('when the control plane goes away', () => {
  const mesh = new Mesh('127.0.52');
  let client: Pod;

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(route('blue'))).code, 0);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('blue-1', 'blue');
    await mesh.addPod('green-1', 'green');
    await mesh.waitInSync(15_000, 3);
  });
  after(() => mesh.close());

  it('keeps serving on the last good config after SIGKILL', async () => {
    const load = new SteadyLoad(mesh, client, 'shop', 2);
    await waitFor(async () => load.outcomes.length >= 20, 10_000, 'load to start');
    await mesh.killControl();
    const mark = load.outcomes.length;
    await waitFor(async () => load.outcomes.length >= mark + 200, 20_000, '200 requests with the control plane down');
    await load.stop();
    assert.deepEqual(load.failures(), []);
    assert.ok(load.outcomes.every((o) => o.pod === 'blue-1'));
  });

  it('serves from its saved config when a sidecar restarts while the control plane is down', async () => {
    await mesh.stopSidecar(client);
    await mesh.startSidecar(client); // waits for /ready: it must come from the saved config
    const r = await mesh.request(client, 'shop', '/');
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).pod, 'blue-1');
  });

  it('resyncs every sidecar when the control plane returns', async () => {
    await mesh.startControl();
    const proxies = await mesh.waitInSync(20_000, 3);
    assert.deepEqual(proxies.filter((p) => p.connected).map((p) => p.id).sort(), ['blue-1', 'client-1', 'green-1']);
    // The restarted control plane still knows every resource and pushes a change to all.
    assert.equal((await mesh.apply(route('green'))).code, 0);
    await mesh.waitInSync(15_000, 3);
    await waitFor(async () => JSON.parse((await mesh.request(client, 'shop', '/')).body).pod === 'green-1', 10_000, 'the switch to green');
    const endpoints = await mesh.getJson('endpoints');
    assert.deepEqual(endpoints.map((e) => e.service).sort(), ['blue', 'client', 'green']);
  });
});
