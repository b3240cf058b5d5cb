import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from '../../../src/control/main.js';
import { encodeNode } from '../../../src/xds/node.js';
import { combinedVersion } from '../../../src/xds/xds-versions.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { AdsTestClient, loopback, nodeInfo, pollUntil } from '../helpers.js';

const host = loopback(2);

const good = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8080 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api-v1 }
spec: { selector: { app: api, version: v1 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-split }
spec:
  parentRefs: [{ name: api }]
  rules: [{ backendRefs: [{ name: api-v1, weight: 9 }, { name: api, weight: 1 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: dangling }
spec:
  parentRefs: [{ name: api }]
  rules: [{ backendRefs: [{ name: nowhere }] }]
`;

describe('HTTP API', () => {
  let dir = '';
  let cp: ControlPlane;
  let base = '';
  let admin: Record<string, string> = {};
  const clients: AdsTestClient[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-api-'));
    cp = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent' });
    base = `http://${host}:${cp.apiPort}`;
    admin = { authorization: `Bearer ${(await readFile(cp.adminTokenFile, 'utf8')).trim()}` };
  });
  after(async () => {
    for (const c of clients) c.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> => {
    const res = await fetch(base + p, { method, body, headers: { ...admin, ...headers }, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, json: await res.json() };
  };

  it('reports health', async () => {
    const { status, json } = await call('GET', '/api/v1/health');
    assert.equal(status, 200);
    assert.deepEqual(json, {
      status: 'ok', version: '0.1.0', pid: process.pid, proxies: 0, resources: 0, revision: 0,
      replica: json.replica,
    });
    assert.match(json.replica, /-127\.0\.\d+\.\d+-\d+$/, 'the replica is named after its host, address and xDS port');
  });

  it('refuses a bad document, naming source and field, and stores nothing', async () => {
    const bad = good + `---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: Bad_Name }
spec: {}
`;
    const { status, json } = await call('POST', '/api/v1/resources', bad, { 'x-trellis-source': 'shop.yaml' });
    assert.equal(status, 400);
    assert.equal(json.errors.length, 1);
    assert.equal(json.errors[0].source, 'shop.yaml');
    assert.equal(json.errors[0].document, 5);
    assert.equal(json.errors[0].path, 'metadata.name');
    assert.deepEqual((await call('GET', '/api/v1/resources')).json, []);
  });

  it('dry-runs without storing', async () => {
    const { status, json } = await call('POST', '/api/v1/resources?dryRun=true', good);
    assert.equal(status, 200);
    assert.equal(json.dryRun, true);
    assert.equal(json.applied.length, 4);
    assert.deepEqual((await call('GET', '/api/v1/resources')).json, []);
  });

  it('applies all documents and reports what changed', async () => {
    const first = await call('POST', '/api/v1/resources', good);
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.applied.map((a: any) => `${a.kind}/${a.name}:${a.action}`), [
      'Service/api:created', 'Service/api-v1:created', 'HTTPRoute/api-split:created', 'HTTPRoute/dangling:created',
    ]);
    const second = await call('POST', '/api/v1/resources', good);
    assert.deepEqual(second.json.applied.map((a: any) => a.action), ['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    const json = JSON.stringify([{ apiVersion: 'trellis.dev/v1alpha1', kind: 'Service', metadata: { name: 'api' }, spec: { ports: [{ port: 9090 }] } }]);
    const third = await call('POST', '/api/v1/resources', json);
    assert.deepEqual(third.json.applied, [{ kind: 'Service', namespace: 'default', name: 'api', action: 'configured' }]);
    const services = (await call('GET', '/api/v1/resources?kind=svc')).json;
    assert.deepEqual(services.map((s: any) => [s.metadata.name, s.metadata.generation]), [['api', 2], ['api-v1', 1]]);
    assert.equal((await call('GET', '/api/v1/resources/service/default/api')).json.spec.ports[0].port, 9090);
  });

  it('shows routes with status, services, proxies and endpoints', async () => {
    const client = new AdsTestClient(`${host}:${cp.xdsPort}`);
    clients.push(client);
    const node = nodeInfo({ service: 'api', address: '127.0.1.40', labels: { version: 'v1' }, zone: 'z9', startedAt: '2026-01-01T00:00:00.000Z' });
    client.send({ node: encodeNode(node), type_url: typeUrls.cluster });
    const cds = await client.next();
    client.send({ type_url: typeUrls.cluster, version_info: cds.version_info, response_nonce: cds.nonce });

    const routes = (await call('GET', '/api/v1/routes')).json;
    assert.deepEqual(routes.map((r: any) => [r.metadata.name, r.status.accepted, r.status.reason]), [
      ['api-split', true, undefined], ['dangling', false, 'BackendServiceUnknown'],
    ]);
    const services = (await call('GET', '/api/v1/services')).json;
    assert.deepEqual(services.map((s: any) => [s.metadata.name, s.status.endpoints]), [['api', 1], ['api-v1', 1]]);

    // the ACK travels on its own; poll until the API shows it. A push made once the registration
    // reached the compiler (a busy machine may answer the request before) is ACKed too.
    let proxies: any[] = [];
    let acked = cds;
    await pollUntil(async () => {
      for (const r of client.takeQueued()) {
        client.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce });
        acked = r;
      }
      proxies = (await call('GET', '/api/v1/proxies')).json;
      return proxies[0]?.ackedVersion !== null && proxies[0]?.ackedVersion === proxies[0]?.sentVersion;
    }, 'the ACK to show in /api/v1/proxies', 15_000);
    assert.equal(proxies[0].ackedVersion, combinedVersion([[typeUrls.cluster, acked.version_info]]), 'one version for all its types, from each type\'s');
    assert.deepEqual(proxies, [{
      id: node.id, service: 'api', namespace: 'default', address: '127.0.1.40', adminPort: 15000, labels: { version: 'v1', app: 'api' },
      zone: 'z9', region: 'r1', state: 'connected', connected: true, connectedAt: proxies[0].connectedAt, disconnectedAt: null,
      startedAt: '2026-01-01T00:00:00.000Z', controlReplica: proxies[0].controlReplica, ackedVersion: proxies[0].ackedVersion, sentVersion: proxies[0].ackedVersion, lastNack: null,
      sentRevision: proxies[0].sentRevision, ackedRevision: proxies[0].ackedRevision,
      certExpiry: null, certIssuedAt: null, spiffeId: null,
    }]);
    // the store's revision after the applies above: what the ACKed snapshot reflects (apply --wait)
    assert.ok(Number.isInteger(proxies[0].ackedRevision) && proxies[0].ackedRevision > 0, JSON.stringify(proxies[0]));
    assert.equal(proxies[0].sentRevision, proxies[0].ackedRevision);
    const endpoints = (await call('GET', '/api/v1/endpoints')).json;
    assert.deepEqual(endpoints.map((e: any) => [e.service, e.address, e.port, e.state, e.ejectedUntil, e.inFlight, e.ewmaMs]), [
      ['api-v1', '127.0.1.40', 15006, 'healthy', null, null, null],
      ['api', '127.0.1.40', 15006, 'healthy', null, null, null],
    ]);
    assert.equal((await call('GET', '/api/v1/health')).json.proxies, 1);
  });

  it('deletes, and answers 404 for what is not there', async () => {
    assert.equal((await call('DELETE', '/api/v1/resources/httproute/default/dangling')).status, 200);
    const again = await call('DELETE', '/api/v1/resources/httproute/default/dangling');
    assert.equal(again.status, 404);
    assert.match(again.json.error, /not found/);
    assert.equal((await call('GET', '/api/v1/resources/service/default/nope')).status, 404);
    assert.equal((await call('DELETE', '/api/v1/resources/gizmo/default/x')).status, 400);
  });

  it('answers errors as JSON with proper status codes', async () => {
    assert.equal((await call('GET', '/api/v1/nope')).status, 404);
    const wrongMethod = await call('PUT', '/api/v1/resources', 'x');
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.json.error, /PUT/);
    const tooLarge = await call('POST', '/api/v1/resources', 'x'.repeat(4 * 1024 * 1024 + 1));
    assert.equal(tooLarge.status, 413);
    assert.equal((await call('GET', '/api/v1/resources?kind=gizmo')).status, 400);
  });
});
