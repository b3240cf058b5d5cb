// Tap authorization across control-plane replicas on one etcd: a read token made through one
// replica taps through another, whose grants the sidecars (connected to the first) accept, since
// every replica signs with the one shared CA key; a revocation through either holds on both at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster, etcdMissing } from '../control/store/etcd-cluster.js';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

describe('tap with two control-plane replicas', { skip: etcdMissing, concurrency: false, timeout: 120_000 }, () => {
  const mesh = new Mesh('127.0.90', 200);
  const replicaB = '127.0.90.202';
  const apiA = mesh.apiUrl;
  const apiB = `http://${replicaB}:15080`;
  let etcd: EtcdCluster | undefined;
  let web: Pod;

  before(async () => {
    etcd = await EtcdCluster.start('127.0.90', 60, 1);
    await mesh.startControl({ args: ['--store', etcd.url] });
    await mesh.startControl({ address: replicaB, args: ['--store', etcd.url] });
    // both sidecars hold their stream on replica A only
    await mesh.addPod('api-1', 'api');
    web = await mesh.addPod('web-1', 'web');
    await waitFor(async () => (await mesh.request(web, 'api', '/warm')).status === 200, 15_000, 'web to reach api');
    // replica B learns of them through etcd
    await waitFor(async () => {
      const rows = (await (await fetch(`${apiB}/api/v1/proxies`)).json()) as { id: string; connected: boolean }[];
      return rows.filter((p) => p.connected).length === 2;
    }, 20_000, 'replica B to see both sidecars');
  });

  after(async () => {
    await mesh.close();
    await etcd?.close();
  });

  it('a read token from replica A taps through replica B; revoked through B, refused by A', async () => {
    const created = await mesh.cli(['token', 'create', '--read', '--name', 'replicas', '-o', 'json'], undefined, apiA);
    assert.equal(created.code, 0, created.stderr);
    const read = JSON.parse(created.stdout) as { id: string; token: string };

    const run = mesh.cli(['tap', 'api', '--max', '2', '-o', 'json'], undefined, apiB, read.token);
    let finished = false;
    void run.finally(() => (finished = true));
    for (const deadline = Date.now() + 20_000; !finished && Date.now() < deadline;) {
      await mesh.request(web, 'api', '/across');
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no sidecar refused replica B\'s grant');
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.length, 2);
    assert.ok(events.every((e) => e.path === '/across'));

    const revoke = await mesh.cli(['token', 'revoke', read.id], undefined, apiB);
    assert.equal(revoke.code, 0, revoke.stderr);
    const refused = await fetch(`${apiA}/api/v1/tap?service=api&max=1`, { headers: { authorization: `Bearer ${read.token}` } });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: string }).error, new RegExp(`read token ${read.id} was revoked`));
  });
});
