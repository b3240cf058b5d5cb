import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileStore, STORE_FILE_NAME } from '../../../src/control/store/store-file.js';
import { openStore, type StoreChange } from '../../../src/control/store/store.js';
import { resources, withTempDir, withTimeout } from '../helpers.js';

const api = (port = 80, labels = ''): string => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api${labels ? `, labels: { ${labels} }` : ''} }
spec: { ports: [{ port: ${port} }] }
`;
const web = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web, namespace: shop }
spec: { ports: [{ port: 80 }] }
`;

describe('FileStore', () => {
  it('creates, leaves unchanged, configures, and keeps bookkeeping', () => withTempDir(async (dir) => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const store = await FileStore.open(dir, () => new Date(t));
    const changes: StoreChange[] = [];
    store.onChange((c) => changes.push(c));

    assert.deepEqual(await store.apply(resources(api() + '---' + web)), [
      { kind: 'Service', namespace: 'default', name: 'api', action: 'created' },
      { kind: 'Service', namespace: 'shop', name: 'web', action: 'created' },
    ]);
    assert.equal(store.revision, 1);
    t += 60_000;
    assert.deepEqual((await store.apply(resources(api()))).map((o) => o.action), ['unchanged']);
    assert.equal(store.revision, 1, 'an apply that changes nothing is not a revision');
    assert.deepEqual((await store.apply(resources(api(8080)))).map((o) => o.action), ['configured']);
    assert.deepEqual((await store.apply(resources(api(8080, 'team: a')))).map((o) => o.action), ['configured']);
    assert.equal(store.revision, 3);
    assert.deepEqual(changes, [{ revision: 1 }, { revision: 2 }, { revision: 3 }]);

    const stored = await store.get('Service', 'default', 'api');
    assert.equal(stored?.metadata.generation, 3);
    assert.equal(stored?.metadata.creationTimestamp, '2026-01-01T00:00:00.000Z');
    assert.deepEqual((await store.list('Service')).map((r) => r.metadata.name), ['api', 'web']);
    assert.deepEqual(await store.list('HTTPRoute'), []);
    await store.close();
  }));

  it('reloads everything acknowledged after a restart', () => withTempDir(async (dir) => {
    const first = await FileStore.open(dir);
    await first.apply(resources(api(81) + '---' + web));
    await first.delete('Service', 'shop', 'web');
    await first.close();
    const second = await openStore('file', { dataDir: dir });
    assert.equal(second.revision, 2);
    const list = await second.list();
    assert.equal(list.length, 1);
    assert.equal(list[0].kind === 'Service' && list[0].spec.ports[0].port, 81);
    await second.close();
  }));

  it('deletes and says whether something was there', () => withTempDir(async (dir) => {
    const store = await FileStore.open(dir);
    await store.apply(resources(api()));
    assert.equal(await store.delete('Service', 'default', 'api'), true);
    assert.equal(await store.delete('Service', 'default', 'api'), false);
    assert.equal(store.revision, 2);
    await store.close();
  }));

  it('stores nothing on a dry run', () => withTempDir(async (dir) => {
    const store = await FileStore.open(dir);
    const out = await store.apply(resources(api()), { dryRun: true });
    assert.deepEqual(out.map((o) => o.action), ['created']);
    assert.equal(store.revision, 0);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await readdir(dir), []);
    await store.close();
  }));

  it('changes nothing, in memory or on disk, when the write fails', () => withTempDir(async (dir) => {
    const store = await FileStore.open(dir);
    // a non-empty directory where the file should go makes the final rename fail
    await mkdir(path.join(dir, STORE_FILE_NAME, 'blocker'), { recursive: true });
    await assert.rejects(store.apply(resources(api() + '---' + web)));
    assert.equal(store.revision, 0);
    assert.deepEqual(await store.list(), []);
    assert.ok(!(await readdir(dir)).some((f) => f.includes('.tmp-')), 'no temporary file left behind');
    await store.close();
  }));

  it('serializes concurrent writes', () => withTempDir(async (dir) => {
    const store = await FileStore.open(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.apply(resources(api(100 + i)))));
    assert.equal(store.revision, 20);
    await store.close();
    const again = await FileStore.open(dir);
    assert.equal(again.revision, 20);
    await again.close();
  }));

  it('refuses to start on a corrupt file, naming it', () => withTempDir(async (dir) => {
    const file = path.join(dir, STORE_FILE_NAME);
    await writeFile(file, '{"format":"trellis-store/1","revision":3,"resou');
    await assert.rejects(FileStore.open(dir), (err: Error) => err.message.includes(file) && /corrupt/.test(err.message));
    await writeFile(file, JSON.stringify({ format: 'trellis-store/1', revision: 1, resources: [{ kind: 'Service', apiVersion: 'trellis.dev/v1alpha1', metadata: { name: 'BAD' }, spec: {} }] }));
    await assert.rejects(FileStore.open(dir), (err: Error) => err.message.includes(file));
  }));

  it('survives SIGKILL at any point with a whole revision', { timeout: 120_000 }, () => withTempDir(async (dir) => {
    const child = fileURLToPath(new URL('./store-kill-child.js', import.meta.url));
    // kill after different numbers of acknowledged writes, some right after an ack (mid-write of the next)
    for (const [acks, delayMs] of [[1, 0], [2, 1], [3, 2], [4, 0], [5, 3], [6, 1], [8, 0], [10, 4], [12, 2], [15, 0]] as const) {
      const lastAcked = await runAndKill(child, dir, acks, delayMs);
      const store = await FileStore.open(dir);
      assert.ok(store.revision >= lastAcked, `revision ${store.revision} lost acknowledged ${lastAcked}`);
      const list = await store.list();
      assert.equal(list.length, 6);
      const rounds = new Set(list.map((r) => r.metadata.annotations?.round));
      assert.deepEqual([...rounds], [String(store.revision)], 'every resource holds the same, latest round');
      await store.close();
    }
  }));
});

async function runAndKill(script: string, dir: string, acks: number, delayMs: number): Promise<number> {
  const proc = spawn(process.execPath, [script], { env: { ...process.env, TRELLIS_STORE_KILL_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let lastAcked = 0;
  let seen = 0;
  let buffer = '';
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      proc.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const m = /^acked (\d+)$/.exec(line);
          if (!m) continue;
          lastAcked = Number(m[1]);
          if (++seen === acks) {
            if (delayMs) setTimeout(() => proc.kill('SIGKILL'), delayMs);
            else proc.kill('SIGKILL');
            resolve();
          }
        }
      });
    }), 30_000, `${acks} acknowledged writes`);
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
  return lastAcked;
}
