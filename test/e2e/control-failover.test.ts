// Sidecars given three control-plane replicas on one 3-member etcd cluster: killing the replica
// they are connected to fails no request, every sidecar moves to another replica, and the new
// replicas send nothing the sidecars already hold (asserted on the sidecars' xDS counters). The
// replicas share the CA, join tokens and revocations through etcd.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Started } from '../../src/common/process-group.js';
import { EtcdCluster, etcdMissing } from '../control/store/etcd-cluster.js';
import { Mesh, SteadyLoad, waitFor, type Pod } from './mesh-harness.js';
import { newKeyAndCsr } from '../../src/proxy/identity/identity-crypto.js';

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

const route = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-timeout }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs: [{ name: api }]
      timeouts: { request: 7s }
`;

type Counters = Map<string, number>;

/** The sidecar's xDS counters from its /metrics: `<metric>{type}` → value. */
async function xdsCounters(pod: Pod): Promise<Counters> {
  const text = await (await fetch(`http://${pod.address}:15000/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const out: Counters = new Map();
  for (const line of text.split('\n')) {
    const m = /^(trellis_xds_[a-z_]+_total)(?:\{type="([^"]+)"\})? (\d+)/.exec(line);
    if (m) out.set(m[2] ? `${m[1]}{${m[2]}}` : m[1], Number(m[3]));
  }
  return out;
}

async function xdsStatus(pod: Pod): Promise<{ connected: boolean; server: string; failovers: number; reconnects: number }> {
  const dump = (await (await fetch(`http://${pod.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json()) as { xds: any };
  return dump.xds;
}

describe('sidecars fail over between control-plane replicas', { skip: etcdMissing, concurrency: false, timeout: 240_000 }, () => {
  const mesh = new Mesh('127.0.82');
  const replicas = [mesh.controlAddress, '127.0.82.2', '127.0.82.3'];
  const apis = replicas.map((r) => `http://${r}:15080`);
  const controlList = replicas.map((r) => `${r}:15010`).join(',');
  let etcd: EtcdCluster | undefined;
  const started: Started[] = [];
  let api: Pod;
  let web: Pod;

  const proxies = async (apiUrl: string): Promise<Record<string, any>[]> => (await fetch(`${apiUrl}/api/v1/proxies`, { signal: AbortSignal.timeout(5000) })).json() as Promise<Record<string, any>[]>;
  const health = async (apiUrl: string): Promise<Record<string, any>> => (await fetch(`${apiUrl}/api/v1/health`, { signal: AbortSignal.timeout(5000) })).json() as Promise<Record<string, any>>;
  const xdsStats = async (apiUrl: string): Promise<Record<string, any>> => (await fetch(`${apiUrl}/api/v1/xds`, { signal: AbortSignal.timeout(5000) })).json() as Promise<Record<string, any>>;
  /** `apiUrl` lists both sidecars connected, each with its latest config ACKed; returns them. */
  const inSync = (apiUrl: string, what: string) => waitFor(async () => {
    const list = (await proxies(apiUrl)).filter((p) => p.connected && (p.id === 'api-1' || p.id === 'web-1'));
    return list.length === 2 && list.every((p) => p.ackedVersion !== null && p.ackedVersion === p.sentVersion) ? list : undefined;
  }, 30_000, what);

  before(async () => {
    etcd = await EtcdCluster.start('127.0.83', 1);
    for (const address of replicas) started.push(await mesh.startControl({ address, grace: '10s', args: ['--store', etcd.url] }));
    const applied = await mesh.apply(services);
    assert.equal(applied.code, 0, applied.stderr);
    // both sidecars know every replica; each connects to the first listed
    api = await mesh.addPod('api-1', 'api', {}, { control: controlList });
    web = await mesh.addPod('web-1', 'web', {}, { control: controlList });
    await inSync(apis[0], 'both sidecars in sync on the first replica');
  });
  after(async () => {
    await mesh.close();
    await etcd?.close();
  });

  it('shows the connected replica in /config_dump and `trellis get proxies`', async () => {
    for (const pod of [api, web]) {
      const st = await xdsStatus(pod);
      assert.equal(st.server, `${replicas[0]}:15010`);
      assert.deepEqual((st as any).servers, replicas.map((r) => `${r}:15010`));
      assert.equal(st.connected, true);
    }
    const got = await mesh.getJson('proxies');
    const replicaA = (await health(apis[0])).replica as string;
    for (const p of got.filter((x) => x.id === 'api-1' || x.id === 'web-1')) assert.equal(p.controlReplica, replicaA, JSON.stringify(p));
    const table = await mesh.cli(['get', 'proxies']);
    assert.match(table.stdout, /CONTROL/);
    assert.ok(table.stdout.includes(replicaA), table.stdout);
  });

  it('killing the replica the sidecars use fails no request; they move to another and are sent nothing they hold', async () => {
    const before = new Map([[api.id, await xdsCounters(api)], [web.id, await xdsCounters(web)]]);
    assert.ok((before.get(web.id)!.get('trellis_xds_resources_received_total{Cluster}') ?? 0) > 0, JSON.stringify([...before.get(web.id)!]));
    const heldBefore = (await Promise.all(apis.slice(1).map(xdsStats))).reduce((n, x) => n + x.held, 0);
    const load = new SteadyLoad(mesh, web, 'api', 2);
    await new Promise((r) => setTimeout(r, 500));
    await mesh.group.stop(started[0], 'SIGKILL');

    for (const pod of [api, web]) {
      await waitFor(async () => {
        const st = await xdsStatus(pod);
        return st.connected && st.server !== `${replicas[0]}:15010` ? st : undefined;
      }, 30_000, `${pod.id} to connect to another replica`);
    }
    // every surviving replica sees both sidecars connected (to one of them) and in sync
    for (const apiUrl of apis.slice(1)) await inSync(apiUrl, `${apiUrl} to show both sidecars in sync`);
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    assert.ok(load.outcomes.length > 20, `load ran: ${load.outcomes.length} requests`);
    assert.deepEqual(load.failures(), [], 'no request failed while the control plane moved');
    assert.ok(load.outcomes.every((o) => o.pod === 'api-1'));

    for (const pod of [api, web]) {
      const st = await xdsStatus(pod);
      assert.equal(st.failovers, 1, `${pod.id}: ${JSON.stringify(st)}`);
      assert.equal(st.reconnects, 1, `${pod.id}: ${JSON.stringify(st)}`);
      const now = await xdsCounters(pod);
      assert.equal(now.get('trellis_xds_failovers_total'), 1);
      for (const [name, value] of before.get(pod.id)!) {
        if (!name.startsWith('trellis_xds_resources_received_total') && !name.startsWith('trellis_xds_received_bytes_total')) continue;
        assert.equal(now.get(name), value, `${pod.id}: ${name} after the failover (nothing changed, nothing is sent again)`);
      }
    }
    // the replicas they moved to answered each of their subscriptions with "you hold it"
    const heldAfter = (await Promise.all(apis.slice(1).map(xdsStats))).reduce((n, x) => n + x.held, 0);
    assert.equal(heldAfter - heldBefore, 8, 'two sidecars × four types held');
    const rows = (await proxies(apis[1])).filter((p) => p.id === 'api-1' || p.id === 'web-1');
    const survivors = await Promise.all(apis.slice(1).map(async (u) => (await health(u)).replica as string));
    for (const p of rows) assert.ok(survivors.includes(p.controlReplica), `${p.id} held by ${p.controlReplica}`);
  });

  it('after the failover a change is sent as only the types it touches', async () => {
    const before = await xdsCounters(web);
    const applied = await mesh.apply(route, 'route.yaml', apis[1]);
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor(async () => {
      const now = await xdsCounters(web);
      return (now.get('trellis_xds_responses_total{RouteConfiguration}') ?? 0) > (before.get('trellis_xds_responses_total{RouteConfiguration}') ?? 0);
    }, 20_000, 'web-1 to receive the new routes');
    for (const apiUrl of apis.slice(1)) await inSync(apiUrl, `${apiUrl} to show the route ACKed`);
    const now = await xdsCounters(web);
    for (const type of ['Cluster', 'ClusterLoadAssignment', 'Listener']) {
      const name = `trellis_xds_responses_total{${type}}`;
      assert.equal(now.get(name) ?? 0, before.get(name) ?? 0, `${name}: a route change sends no ${type}`);
    }
    const r = await mesh.request(web, 'api', '/');
    assert.equal(r.status, 200);
  });

  // identity state lives in etcd: the two surviving replicas share the CA, the tokens and revocations
  const post = async (apiUrl: string, p: string, body: unknown, token?: string | null): Promise<{ status: number; json: any }> => {
    const auth = token === undefined ? mesh.adminTokens.get(apis[0]) : token;
    const res = await fetch(`${apiUrl}${p}`, {
      method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    });
    return { status: res.status, json: await res.json() };
  };
  const certificateFrom = async (apiUrl: string, joinToken: string, proxyId: string) => {
    const { csrPem } = await newKeyAndCsr('api.default');
    return post(apiUrl, '/api/v1/certificates', { proxyId, service: 'api', csr: csrPem }, joinToken);
  };

  it('every replica serves the same CA: one root, created once', async () => {
    const bundles = await Promise.all(apis.slice(1).map(async (u) => (await fetch(`${u}/api/v1/trust-bundle`)).json() as Promise<Record<string, any>>));
    assert.equal(bundles[0].roots.length, 1, JSON.stringify(bundles[0]));
    assert.deepEqual(bundles[1].roots.map((r: any) => r.fingerprint), bundles[0].roots.map((r: any) => r.fingerprint));
    assert.equal(bundles[1].caSubject, bundles[0].caSubject);
  });

  it('a join token created through one replica obtains a certificate from another, and one revoked through either is refused by all', async () => {
    const [b, c] = apis.slice(1);
    const created = await post(b, '/api/v1/tokens', { service: 'api', ttlMs: 600_000 });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const issued = await certificateFrom(c, created.json.token, 'api-cert-1');
    assert.equal(issued.status, 200, JSON.stringify(issued.json));
    assert.match(issued.json.certificatePem, /BEGIN CERTIFICATE/);
    const bundle = (await (await fetch(`${b}/api/v1/trust-bundle`)).json()) as { roots: { pem: string }[] };
    assert.deepEqual(issued.json.trustBundlePems, bundle.roots.map((r) => r.pem), 'signed under the shared root');
    // the certificate issued by c is known to b (get proxies' bookkeeping is shared too)
    await waitFor(async () => ((await (await fetch(`${b}/api/v1/certificates`)).json()) as { proxyId: string }[]).some((r) => r.proxyId === 'api-cert-1'), 10_000, 'b to list the certificate issued by c');

    const revoked = await fetch(`${c}/api/v1/tokens/${created.json.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${mesh.adminTokens.get(apis[0])}` } });
    assert.equal(revoked.status, 200);
    // at once, no waiting for a watch: a replica checks a presented token against etcd
    const refused = await certificateFrom(b, created.json.token, 'api-cert-2');
    assert.equal(refused.status, 401, JSON.stringify(refused.json));
    assert.match(refused.json.error, /revoked/);
  });

  it('the admin token of the replica that created it works on every replica', async () => {
    for (const apiUrl of apis.slice(1)) {
      const withToken = await post(apiUrl, '/api/v1/tokens', { service: 'web', ttlMs: 60_000 });
      assert.equal(withToken.status, 201, `${apiUrl}: ${JSON.stringify(withToken.json)}`);
      const without = await post(apiUrl, '/api/v1/tokens', { service: 'web', ttlMs: 60_000 }, null);
      assert.equal(without.status, 401);
    }
  });
});
