import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../../src/common/log.js';
import { ProcessGroup } from '../../../src/common/process-group.js';
import { EtcdRegistryShare } from '../../../src/control/registry-etcd.js';
import { Registry } from '../../../src/control/registry.js';
import { EtcdStore } from '../../../src/control/store/store-etcd.js';
import { ManualClock, nodeInfo } from '../helpers.js';
import { EtcdCluster, etcdMissing } from './etcd-cluster.js';

async function eventually(probe: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const logger = createLogger('test', 'silent');

/** One control-plane replica's share of the registry: its own etcd client, registry and lease. */
async function replica(cluster: EtcdCluster, prefix: string, replicaId: string, clock?: ManualClock) {
  const store = await EtcdStore.open({ hosts: cluster.hosts, prefix });
  const registry = new Registry({ graceMs: 2000, clock, replicaId });
  const share = await EtcdRegistryShare.start({ client: store.client, prefix: store.prefix, replicaId, registry, graceMs: 2000, logger, clock, flushDelayMs: 10 });
  let changes = 0;
  registry.onChange(() => changes++);
  return { store, registry, share, changes: () => changes, close: async () => { await share.close(); await registry.close(); await store.close(); } };
}

describe('EtcdRegistryShare: the registry shared by replicas through etcd', { skip: etcdMissing }, () => {
  let cluster: EtcdCluster;
  let n = 0;
  const freshPrefix = (): string => `/share-${process.pid}-${n++}/`;

  before(async () => {
    cluster = await EtcdCluster.start('127.0.14', 21);
  });
  after(async () => {
    await cluster?.close();
  });

  it('serves instances connected to another replica, with their xDS progress; progress alone wakes no compiler', async () => {
    const prefix = freshPrefix();
    const a = await replica(cluster, prefix, 'a');
    const b = await replica(cluster, prefix, 'b');
    try {
      a.registry.connect(nodeInfo({ id: 'api-1', service: 'api' }));
      await eventually(() => b.registry.get('api-1')?.connected === true, 'b to see api-1');
      assert.deepEqual(b.registry.list().map((i) => [i.proxyId, i.service, i.state]), [['api-1', 'api', 'connected']]);
      assert.deepEqual(b.registry.localList(), [], 'b holds no stream of its own');
      const changesBefore = b.changes();
      assert.ok(changesBefore > 0, 'a new remote endpoint wakes the compiler');

      a.registry.updateStatus('api-1', { sentVersion: '3', ackedVersion: '3', lastNack: { version: '2', error: 'bad route', typeUrl: 't' } });
      await eventually(() => b.registry.get('api-1')?.ackedVersion === '3', 'b to see the ACK');
      assert.equal(b.registry.get('api-1')?.lastNack?.error, 'bad route');
      assert.equal(b.changes(), changesBefore, 'xDS progress alone changes no snapshot');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a proxy that moved to another replica is served as connected there, held by that replica', async () => {
    const prefix = freshPrefix();
    const a = await replica(cluster, prefix, 'a');
    const b = await replica(cluster, prefix, 'b');
    try {
      const session = a.registry.connect(nodeInfo({ id: 'api-1', service: 'api' }));
      a.registry.updateStatus('api-1', { sentVersion: '7' });
      await eventually(() => b.registry.get('api-1')?.sentVersion === '7', 'b to see api-1 at version 7');
      // its stream to a broke and it reconnected to b
      a.registry.disconnect('api-1', session);
      b.registry.connect(nodeInfo({ id: 'api-1', service: 'api' }));
      // versions are content digests: the new stream states its own progress
      assert.equal(b.registry.get('api-1')?.sentVersion, null);
      await eventually(() => a.registry.get('api-1')?.connected === true, 'a to serve b\'s connected instance over its own draining one');
      assert.equal(a.registry.get('api-1')?.controlReplica, 'b', 'the replica holding the stream');
      assert.equal(a.registry.localList()[0].state, 'draining');
      assert.equal(b.registry.list().length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the instances of a replica that died are kept as restored for one grace period, then dropped', async () => {
    const prefix = freshPrefix();
    const clock = new ManualClock();
    const b = await replica(cluster, prefix, 'b', clock);
    const group = new ProcessGroup();
    try {
      const child = group.start('replica-a', process.execPath, [fileURLToPath(new URL('./registry-share-child.js', import.meta.url))], {
        env: { ...process.env, TRELLIS_SHARE_CHILD_HOSTS: cluster.hosts.join(','), TRELLIS_SHARE_CHILD_PREFIX: prefix },
      });
      await eventually(() => b.registry.get('web-1')?.connected === true, 'b to see web-1 of the child replica', 20_000);
      // the replica dies without a word: its lease is no longer renewed and runs out (TTL 2 s)
      await group.stop(child, 'SIGKILL');
      await eventually(() => b.registry.get('web-1')?.state === 'restored', 'b to notice the child\'s lease expired', 20_000);
      assert.equal(b.registry.get('web-1')?.connected, false);
      clock.advance(1999);
      assert.ok(b.registry.get('web-1'), 'kept for the grace period');
      clock.advance(1);
      assert.equal(b.registry.get('web-1'), undefined);
      assert.deepEqual(b.registry.list(), []);
    } finally {
      await group.stopAll(2000);
      await b.close();
    }
  });

  it('a replica that stops cleanly removes its instances at once (revoked lease)', async () => {
    const prefix = freshPrefix();
    const a = await replica(cluster, prefix, 'a');
    const b = await replica(cluster, prefix, 'b');
    try {
      const session = a.registry.connect(nodeInfo({ id: 'api-1', service: 'api' }));
      await eventually(() => b.registry.get('api-1')?.connected === true, 'b to see api-1');
      a.registry.disconnect('api-1', session);
      await eventually(() => b.registry.get('api-1')?.state === 'draining', 'b to see api-1 draining');
      await a.close();
      // a draining instance removed by its replica is gone, not restored
      await eventually(() => b.registry.get('api-1') === undefined, 'b to drop the draining instance of a stopped replica');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
