import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../../src/control/store/store-etcd.js';
import { isStoreUnavailable } from '../../../src/control/store/store-unavailable.js';
import { resources } from '../helpers.js';
import { EtcdCluster, etcdMissing } from './etcd-cluster.js';

const service = (name: string, port = 80): string => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec: { ports: [{ port: ${port} }] }
`;

async function eventually(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The tests run in order on one cluster: first one member dies, then all of them.
describe('EtcdStore when etcd members die', { skip: etcdMissing, concurrency: false }, () => {
  let cluster: EtcdCluster;
  let a: EtcdStore;
  let b: EtcdStore;
  const prefix = `/outage-${process.pid}/`;

  before(async () => {
    cluster = await EtcdCluster.start('127.0.14', 11);
    a = await EtcdStore.open({ hosts: cluster.hosts, prefix, probeIntervalMs: 200, callTimeoutMs: 1000 });
    b = await EtcdStore.open({ hosts: cluster.hosts, prefix, probeIntervalMs: 200, callTimeoutMs: 1000 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await cluster?.close();
  });

  it('keeps taking writes with one of three members killed', async () => {
    await a.apply(resources(service('before-kill')));
    await cluster.kill(0);
    for (let i = 0; i < 5; i++) {
      const outcomes = await (i % 2 ? b : a).apply(resources(service(`after-kill-${i}`)));
      assert.equal(outcomes[0].action, 'created');
    }
    for (const s of [a, b]) {
      await eventually(async () => (await s.list()).length === 6, 'both instances to see all six');
      assert.deepEqual(s.health(), { writable: true });
    }
  });

  it('with every member down: serves the last state read-only, refuses writes clearly, recovers', async () => {
    await cluster.killAll();
    await eventually(() => !a.health().writable, 'the store to notice etcd is gone');
    const health = a.health();
    assert.match(health.reason ?? '', /etcd unreachable/);
    await assert.rejects(a.apply(resources(service('during-outage'))), (err: unknown) => {
      assert.ok(isStoreUnavailable(err), `expected StoreUnavailableError, got ${String(err)}`);
      assert.match((err as Error).message, /^store unavailable: read-only/);
      return true;
    });
    await assert.rejects(a.delete('Service', 'default', 'before-kill'), (err: unknown) => isStoreUnavailable(err));
    assert.equal((await a.list()).length, 6, 'reads are served from the last state');

    await cluster.restartAll();
    await eventually(() => a.health().writable && b.health().writable, 'both instances to take writes again', 30_000);
    await a.apply(resources(service('after-recovery')));
    await eventually(async () => (await b.get('Service', 'default', 'after-recovery')) !== undefined, 'b to see the write made after recovery');
    assert.equal((await b.list()).length, 7);
    assert.equal(await b.get('Service', 'default', 'during-outage'), undefined, 'the refused write did not land');
  });

  it('after a long outage, a write through one instance reaches the other as soon as both say writable', async () => {
    await cluster.killAll();
    await eventually(() => !a.health().writable && !b.health().writable, 'both instances to notice etcd is gone');
    // long enough for the etcd client's own watch reconnection to back off well past the deadline below
    await new Promise((r) => setTimeout(r, 10_000));
    await cluster.restartAll();
    await eventually(() => a.health().writable && b.health().writable, 'both instances to take writes again', 30_000);
    await b.apply(resources(service('after-long-outage')));
    // writable means the watch is live again: the event arrives in milliseconds, not after a backoff
    await eventually(async () => (await a.get('Service', 'default', 'after-long-outage')) !== undefined, 'a to see the write made through b', 2000);
    assert.equal((await a.list()).length, 8, JSON.stringify((await a.list()).map((r) => r.metadata.name)));
  });
});
