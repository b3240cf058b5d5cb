// A canary rolled back for its latency alone: the new backend answers every request correctly
// but 800 ms late, the old one at once. The threshold keeps a wide margin (p99 more than 2× the
// old one's), so only an old p99 above 400 ms, which this load never comes near, could flip the
// verdict. (Two identical backends judged on p99 only measure the machine's noise; that check
// was removed from canary.test.ts for that reason.) Real CLI, control plane and sidecars.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';
import type { RolloutState } from '../../src/control/rollout/rollout-state.js';

const lateMs = 800;

const services = ['reviews-v1', 'reviews-v2'].map((name) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec: { ports: [{ port: 8000 }], selector: { app: reviews, version: ${name.slice(-2)} } }
`).join('---') + `---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: reviews }
spec: { ports: [{ port: 8000 }] }
`;

/** The new release: right answers, each `lateMs` late. */
async function lateApp(address: string, port: number): Promise<() => Promise<void>> {
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ pod: 'reviews-v2' })), lateMs);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
  return () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

describe('a canary whose new backend is much slower', () => {
  const mesh = new Mesh('127.0.93', 100);
  let client: Pod;
  let running = true;
  let loops: Promise<void>[] = [];
  const failures: string[] = [];

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services)).code, 0);
    client = await mesh.addPod('client-1', 'web');
    await mesh.addPod('reviews-v1', 'reviews', { version: 'v1' });
    await mesh.addPod('reviews-v2', 'reviews', { version: 'v2' }, { app: lateApp });
    await mesh.waitInSync(15_000, 3);
    // four callers in a loop: enough requests reach the new backend in each step to judge its p99
    loops = [0, 1, 2, 3].map(async () => {
      while (running) {
        try {
          const r = await mesh.request(client, 'reviews', '/');
          if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 100)}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
  });
  after(async () => {
    running = false;
    await Promise.all(loops);
    await mesh.close();
  });

  it('is rolled back automatically on its p99, with its success rate intact', async () => {
    const start = await mesh.cli(['canary', 'reviews', '--from', 'reviews-v1', '--to', 'reviews-v2', '--steps', '25,50,100',
      '--interval', '3s', '--min-requests', '5', '--max-p99-ratio', '2']);
    assert.equal(start.code, 0, start.stderr);
    const s = await waitFor(async () => {
      const r = await mesh.cli(['canary', 'status', 'reviews', '-o', 'json']);
      if (r.code !== 0) throw new Error(r.stderr);
      const st = JSON.parse(r.stdout) as RolloutState;
      if (st.phase === 'completed') throw new Error(`completed despite the latency: ${JSON.stringify(st.history)}`);
      return st.phase === 'rolled-back' ? st : undefined;
    }, 40_000, 'the rollout to be rolled back');
    const failed = s.history.find((h) => h.verdict === 'fail');
    assert.ok(failed, JSON.stringify(s.history));
    assert.match(failed.reason, /p99/);
    assert.equal(failed.newBackend.successRate, 1, 'nothing but latency was wrong');
    assert.ok(failed.newBackend.p99Ms !== null && failed.newBackend.p99Ms >= lateMs * 0.9, `new p99 ${failed.newBackend.p99Ms}`);
    assert.ok(failed.baseline?.p99Ms !== null && failed.baseline!.p99Ms! < lateMs / 2, `old p99 ${failed.baseline?.p99Ms}`);
    assert.ok(s.stepIndex < 2, 'it never reached 100 %');
    assert.deepEqual(s.weights, { from: 10_000, to: 0 });
    assert.deepEqual(failures, [], 'slow is not failed: every caller got its answer');
  });
});
