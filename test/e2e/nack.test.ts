import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

const route = (filter: boolean) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: echo }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo }
spec:
  parentRefs: [{ name: echo }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /${filter ? 'new' : 'old'} } }]
${filter ? '      filters: [{ type: ExtensionRef, extensionRef: { group: acme.example.com, kind: ShinyFilter, name: shiny } }]\n' : ''}      backendRefs: [{ name: echo }]
`;

describe('a config the sidecar cannot apply', () => {
  const mesh = new Mesh('127.0.53');
  let client: Pod;

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(route(false))).code, 0);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('echo-1', 'echo');
    await mesh.waitInSync(15_000, 2);
  });
  after(() => mesh.close());

  it('is NACKed: the proxy stays on its old version and `get proxies` shows the error', async () => {
    const before = (await mesh.getJson('proxies')).find((p) => p.id === 'client-1')!;
    assert.equal((await mesh.apply(route(true))).code, 0);
    const after = await waitFor(async () => (await mesh.getJson('proxies')).find((p) => p.id === 'client-1' && p.lastNack), 15_000, 'the NACK');
    assert.match(after.lastNack.error, /acme\.example\.com\.ShinyFilter/);
    assert.notEqual(after.lastNack.version, before.ackedVersion);
    assert.equal(after.ackedVersion, before.ackedVersion, 'the proxy stays on the version it had');
    // and it still routes by the old config
    assert.equal((await mesh.request(client, 'echo', '/old')).status, 200);
    const r = await mesh.request(client, 'echo', '/new');
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-trellis-error'], 'no-route');
    const table = await mesh.cli(['get', 'proxies']);
    assert.match(table.stdout, /ShinyFilter/);
    const check = await mesh.cli(['check']);
    assert.equal(check.code, 1, 'trellis check fails while a proxy rejects its config');
  });

  it('recovers when a config it accepts follows', async () => {
    assert.equal((await mesh.apply(route(false))).code, 0);
    const proxies = await mesh.waitInSync(15_000, 2);
    assert.ok(proxies.every((p) => p.lastNack === null), JSON.stringify(proxies));
    assert.equal((await mesh.cli(['check'])).code, 0);
  });
});
