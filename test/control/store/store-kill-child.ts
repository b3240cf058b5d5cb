// Child process for store-file.test.ts: applies forever and reports each acknowledged revision,
// so the parent can SIGKILL it at arbitrary points. Does nothing when run any other way (node
// --test also picks up this file).
import { FileStore } from '../../../src/control/store/store-file.js';
import type { Resource } from '../../../src/resources/kinds.js';

const dir = process.env.TRELLIS_STORE_KILL_DIR;

function round(n: number): Resource[] {
  // Several resources per revision: a torn write would show them disagreeing about the round.
  return Array.from({ length: 6 }, (_, i) => ({
    apiVersion: 'trellis.dev/v1alpha1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: 'default', annotations: { round: String(n), padding: 'x'.repeat(50_000 + (n % 7) * 3000) } },
    spec: { ports: [{ port: 80 + (n % 5), protocol: 'http' }] },
  }) as Resource);
}

if (dir) {
  const store = await FileStore.open(dir);
  for (let n = store.revision + 1; ; n++) {
    await store.apply(round(n));
    process.stdout.write(`acked ${store.revision}\n`);
  }
}
