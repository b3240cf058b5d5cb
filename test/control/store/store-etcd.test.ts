import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../../src/control/store/store-etcd.js';
import { parseEtcdUrl } from '../../../src/control/store/etcd-url.js';
import { openStore, type StoreChange } from '../../../src/control/store/store.js';
import { resources } from '../helpers.js';
import { EtcdCluster, etcdMissing } from './etcd-cluster.js';

const service = (name: string, port = 80, namespace = 'default'): string => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec: { ports: [{ port: ${port} }] }
`;

/** Polls until `probe` holds; bounded so a lost watch event fails the test instead of hanging it. */
async function eventually(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('parseEtcdUrl', () => {
  it('takes several members and an optional prefix', () => {
    assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379,10.0.0.2:2379'), { hosts: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'], prefix: '/trellis/' });
    assert.deepEqual(parseEtcdUrl('etcd://h:1/mesh-a'), { hosts: ['http://h:1'], prefix: '/mesh-a/' });
    assert.throws(() => parseEtcdUrl('http://h:1'), /expected etcd:\/\//);
    assert.throws(() => parseEtcdUrl('etcd://h'), /invalid etcd member "h"/);
    assert.throws(() => parseEtcdUrl('etcd://h:99999'), /invalid etcd member/);
  });
});

describe('EtcdStore on a 3-member etcd cluster', { skip: etcdMissing }, () => {
  let cluster: EtcdCluster;
  let nextPrefix = 0;
  const open = (prefix: string, t?: () => number): Promise<EtcdStore> =>
    EtcdStore.open({ hosts: cluster.hosts, prefix, now: t ? () => new Date(t()) : undefined, probeIntervalMs: 200 });
  const freshPrefix = (): string => `/test-${process.pid}-${nextPrefix++}/`;

  before(async () => {
    cluster = await EtcdCluster.start('127.0.14', 1);
  });
  after(async () => {
    await cluster?.close();
  });

  it('creates, leaves unchanged, configures and deletes, with bookkeeping and one revision per change', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const store = await open(freshPrefix(), () => t);
    try {
      const changes: StoreChange[] = [];
      store.onChange((c) => changes.push(c));
      assert.deepEqual(await store.apply(resources(service('api') + '---' + service('web', 80, 'shop'))), [
        { kind: 'Service', namespace: 'default', name: 'api', action: 'created' },
        { kind: 'Service', namespace: 'shop', name: 'web', action: 'created' },
      ]);
      assert.equal(store.revision, 1);
      t += 60_000;
      assert.deepEqual((await store.apply(resources(service('api')))).map((o) => o.action), ['unchanged']);
      assert.equal(store.revision, 1, 'an apply that changes nothing is not a revision');
      assert.deepEqual((await store.apply(resources(service('api', 8080)))).map((o) => o.action), ['configured']);
      assert.deepEqual((await store.apply(resources(service('api', 9090)), { dryRun: true })).map((o) => o.action), ['configured']);
      assert.equal(store.revision, 2, 'a dry run stores nothing');
      const stored = await store.get('Service', 'default', 'api');
      assert.equal(stored?.metadata.generation, 2);
      assert.equal(stored?.metadata.creationTimestamp, '2026-01-01T00:00:00.000Z');
      assert.equal((stored?.spec as { ports: { port: number }[] }).ports[0].port, 8080);
      assert.equal(await store.delete('Service', 'shop', 'web'), true);
      assert.equal(await store.delete('Service', 'shop', 'web'), false);
      assert.deepEqual((await store.list()).map((r) => r.metadata.name), ['api']);
      assert.equal(store.revision, 3);
      assert.deepEqual(changes.map((c) => c.revision), [1, 2, 3]);
      assert.deepEqual(store.health(), { writable: true });
    } finally {
      await store.close();
    }
  });

  it('applies all or nothing: a batch either lands whole or not at all', async () => {
    const prefix = freshPrefix();
    const store = await open(prefix);
    try {
      await store.apply(resources(service('a') + '---' + service('b') + '---' + service('c')));
      // another reader sees all three at once or none: it only ever observes revision-consistent lists
      const reader = await open(prefix);
      try {
        assert.deepEqual((await reader.list()).map((r) => r.metadata.name), ['a', 'b', 'c']);
        assert.equal(reader.revision, 1);
      } finally {
        await reader.close();
      }
    } finally {
      await store.close();
    }
  });

  it('a watch brings another instance\'s writes and deletes and fires onChange', async () => {
    const prefix = freshPrefix();
    const [a, b] = [await open(prefix), await open(prefix)];
    try {
      const seen: number[] = [];
      b.onChange((c) => seen.push(c.revision));
      await a.apply(resources(service('api')));
      await eventually(async () => (await b.get('Service', 'default', 'api')) !== undefined, 'b to see the apply');
      assert.equal(b.revision, 1);
      await a.delete('Service', 'default', 'api');
      await eventually(async () => (await b.list()).length === 0, 'b to see the delete');
      assert.equal(b.revision, 2);
      assert.deepEqual(seen, [1, 2]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('concurrent applies through two instances lose neither change', async () => {
    const prefix = freshPrefix();
    const [a, b] = [await open(prefix), await open(prefix)];
    try {
      // both start from the same state, then race: each writes its own resources and bumps a shared one
      await a.apply(resources(service('shared', 1)));
      await eventually(async () => b.revision === 1, 'b to catch up');
      const rounds = 10;
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < rounds; i++) {
        writes.push(a.apply(resources(service(`from-a-${i}`))));
        writes.push(b.apply(resources(service(`from-b-${i}`))));
      }
      await Promise.all(writes);
      const expected = ['shared', ...Array.from({ length: rounds }, (_, i) => [`from-a-${i}`, `from-b-${i}`]).flat()].sort();
      for (const s of [a, b]) {
        await eventually(async () => (await s.list()).length === expected.length, 'both to see every write');
        assert.deepEqual((await s.list()).map((r) => r.metadata.name).sort(), expected);
        assert.equal(s.revision, 1 + 2 * rounds, 'every change is its own revision');
      }
      // the same resource changed from both sides: generations count every change, none overwritten unseen
      await Promise.all([a.apply(resources(service('shared', 2))), b.apply(resources(service('shared', 3)))]);
      await eventually(async () => a.revision === b.revision && a.revision === 3 + 2 * rounds, 'both to agree');
      assert.equal((await a.get('Service', 'default', 'shared'))?.metadata.generation, 3);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('is registered as "etcd" and opened from a URL with a prefix', async () => {
    const prefix = freshPrefix();
    const store = await openStore('etcd', { url: `${cluster.url}${prefix.slice(0, -1)}` });
    try {
      await store.apply(resources(service('api')));
      const other = await open(prefix);
      assert.deepEqual((await other.list()).map((r) => r.metadata.name), ['api']);
      await other.close();
    } finally {
      await store.close();
    }
  });

  it('cannot open when no member answers', async () => {
    await assert.rejects(EtcdStore.open({ hosts: ['http://127.0.14.250:2379'], callTimeoutMs: 500 }), /cannot open the etcd store/);
  });
});
