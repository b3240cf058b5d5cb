// Child process for store-etcd-registry-share.test.ts: a replica sharing one connected instance,
// so the parent can SIGKILL it and watch its lease run out. Does nothing when run any other way
// (node --test also picks up this file).
import { createLogger } from '../../../src/common/log.js';
import { EtcdRegistryShare } from '../../../src/control/registry-etcd.js';
import { Registry } from '../../../src/control/registry.js';
import { EtcdStore } from '../../../src/control/store/store-etcd.js';
import { nodeInfo } from '../helpers.js';

const hosts = process.env.TRELLIS_SHARE_CHILD_HOSTS;
const prefix = process.env.TRELLIS_SHARE_CHILD_PREFIX;

if (hosts && prefix) {
  const store = await EtcdStore.open({ hosts: hosts.split(','), prefix });
  const registry = new Registry({ graceMs: 2000 });
  await EtcdRegistryShare.start({ client: store.client, prefix, replicaId: 'child', registry, graceMs: 2000, logger: createLogger('child', 'silent'), flushDelayMs: 10 });
  registry.connect(nodeInfo({ id: 'web-1', service: 'web' }));
  process.stdout.write('connected\n');
  setInterval(() => undefined, 60_000);
}
