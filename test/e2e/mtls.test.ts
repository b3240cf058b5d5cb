// mTLS and authorization in a real mesh (control plane and sidecars as processes): sidecars with
// join tokens talk mTLS, one without a token keeps working in plaintext (permissive), certificates
// with a 1-minute life rotate under steady load with zero failed requests, strict mode shuts the
// plaintext peer out, and AuthorizationPolicy answers 403 unauthorized by the caller's identity.
// Authorization lives in this file too: one e2e file per address range (127.0.65.0/24).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, SteadyLoad, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: plain }
`;

async function configDump(pod: Pod): Promise<Record<string, any>> {
  return (await (await fetch(`http://${pod.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json()) as Record<string, any>;
}

describe('mTLS and authorization between sidecars', () => {
  const mesh = new Mesh('127.0.65');
  let api: Pod;
  let web: Pod;
  let plain: Pod;

  before(async () => {
    await mesh.startControl({ args: ['--cert-ttl', '1m'] });
    assert.equal((await mesh.apply(services)).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    api = await mesh.addPod('api-1', 'api', {}, { token: await token('api') });
    web = await mesh.addPod('web-1', 'web', {}, { token: await token('web') });
    plain = await mesh.addPod('plain-1', 'plain');
    await waitFor(async () => (await configDump(api)).identity?.serial && (await configDump(web)).identity?.serial, 20_000, 'certificates for api and web');
    await mesh.waitInSync(15_000, 3);
  });

  after(() => mesh.close());

  it('sidecars with certificates talk mTLS; the one without stays reachable in plaintext (permissive)', { timeout: 30_000 }, async () => {
    const reply = await waitFor(async () => {
      const r = await mesh.request(web, 'api', '/hello');
      return r.status === 200 && (await metric(api, /^trellis_tls_handshakes_total\{direction="inbound"/)) > 0 ? r : undefined;
    }, 15_000, 'web to reach api over mTLS');
    assert.equal(JSON.parse(reply.body).pod, 'api-1');
    assert.ok((await metric(web, /^trellis_tls_handshakes_total\{direction="outbound"/)) > 0);

    const before = await metric(api, /^trellis_inbound_plaintext_connections_total\{mode="permissive"\}/);
    const fromPlain = await mesh.request(plain, 'api', '/from-plain');
    assert.equal(fromPlain.status, 200, 'a sidecar without identity still reaches api (permissive)');
    assert.ok((await metric(api, /^trellis_inbound_plaintext_connections_total\{mode="permissive"\}/)) > before, 'and it is counted');
    const toPlain = await mesh.request(web, 'plain', '/to-plain');
    assert.equal(toPlain.status, 200, 'peers send plaintext to a sidecar without a certificate');
  });

  it('certificates with a 1-minute life rotate under steady load; no request fails', { timeout: 90_000 }, async () => {
    const first = { api: (await configDump(api)).identity.serial as string, web: (await configDump(web)).identity.serial as string };
    const load = new SteadyLoad(mesh, web, 'api', 4);
    try {
      // renewal at two thirds of 60 s: at most ~40 s after the first certificates
      await waitFor(async () => {
        const [a, w] = [(await configDump(api)).identity.serial, (await configDump(web)).identity.serial];
        return a !== first.api && w !== first.web;
      }, 60_000, 'both sidecars to rotate their certificates');
      // keep the load on a little after the swap so connections made with the new certificates carry requests too
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      await load.stop();
    }
    assert.ok(load.outcomes.length > 50, `steady load ran (${load.outcomes.length} requests)`);
    assert.deepEqual(load.failures().slice(0, 5), [], `${load.failures().length} of ${load.outcomes.length} requests failed during rotation`);
    const after = await mesh.request(web, 'api', '/after-rotation');
    assert.equal(after.status, 200);
  });

  it('AuthorizationPolicy: DENY wins, ALLOW restricts, default deny; 403 unauthorized never reaches the app', { timeout: 40_000 }, async () => {
    const seen: string[] = [];
    const onRequest = (req: { url?: string }) => seen.push(req.url ?? '');
    api.app.on('request', onRequest);
    try {
      const r = await mesh.apply(`
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: web-reads-api }
spec:
  targetRef: { kind: Service, name: api }
  action: ALLOW
  rules:
    - from: [{ services: [web] }]
      to: [{ paths: ["/api/*"], methods: [GET] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin }
spec:
  action: DENY
  rules: [{ to: [{ paths: ["/api/admin"] }] }]
`, 'authz.yaml');
      assert.equal(r.code, 0, r.stderr);
      await mesh.waitInSync();
      assert.equal((await mesh.request(web, 'api', '/api/items')).status, 200);
      const denied = [
        await mesh.request(web, 'api', '/api/admin'),            // DENY wins over the ALLOW
        await mesh.request(web, 'api', '/api/items', 'DELETE'),  // method not allowed
        await mesh.request(web, 'api', '/other'),                 // path not allowed
        await mesh.request(plain, 'api', '/api/items'),           // no identity
      ];
      for (const d of denied) {
        assert.equal(d.status, 403);
        assert.equal(d.headers['x-trellis-error'], 'unauthorized');
      }
      assert.deepEqual(seen.filter((u) => u !== '/api/items'), [], 'denied requests never reach the app');
      assert.ok((await metric(api, /^trellis_authz_denied_total\{source="spiffe:\/\/cluster\.local\/ns\/default\/svc\/web",reason="policy:default\/no-admin"\}/)) >= 1);
      assert.ok((await metric(api, /^trellis_authz_denied_total\{source="plaintext",reason="not-allowed"\}/)) >= 1);

      const policies = await mesh.getJson('policies');
      const row = policies.find((p) => p.kind === 'AuthorizationPolicy' && p.metadata.name === 'web-reads-api');
      assert.ok(row, 'trellis get policies lists AuthorizationPolicies');
      assert.deepEqual(row.status, { accepted: true });

      // the mesh default: deny unless an ALLOW matches (web → plain has no ALLOW)
      assert.equal((await mesh.apply('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { defaultAuthorization: deny }\n', 'deny.yaml')).code, 0);
      await mesh.waitInSync();
      const toPlain = await mesh.request(web, 'plain', '/');
      assert.equal(toPlain.status, 403);
      assert.equal((await mesh.request(web, 'api', '/api/items')).status, 200, 'the ALLOW still admits web');
    } finally {
      api.app.off('request', onRequest);
      await mesh.cli(['delete', 'authorizationpolicy', 'web-reads-api']);
      await mesh.cli(['delete', 'authorizationpolicy', 'no-admin']);
      await mesh.apply('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { defaultAuthorization: allow }\n', 'allow.yaml');
      await mesh.waitInSync();
    }
  });

  it('strict mode: the plaintext sidecar is refused, mTLS peers keep working', { timeout: 30_000 }, async () => {
    assert.equal((await mesh.apply('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { mtls: { mode: strict } }\n', 'strict.yaml')).code, 0);
    await mesh.waitInSync();
    const refused = await waitFor(async () => {
      const r = await mesh.request(plain, 'api', '/strict');
      return r.status !== 200 ? r : undefined;
    }, 10_000, 'plaintext to be refused');
    assert.equal(refused.status, 502);
    assert.ok((await metric(api, /^trellis_inbound_plaintext_connections_total\{mode="strict"\}/)) >= 1);
    assert.equal((await mesh.request(web, 'api', '/strict')).status, 200);
  });
});
