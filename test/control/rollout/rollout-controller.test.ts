import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../src/common/log.js';
import '../../../src/control/store/store-file.js';
import { openStore, type Store } from '../../../src/control/store/store.js';
import { RolloutController, type RolloutStats } from '../../../src/control/rollout/rollout-controller.js';
import type { StatsRow } from '../../../src/control/telemetry/stats-history.js';
import type { HTTPRoute } from '../../../src/resources/http-route.js';
import { ManualClock, resources, withTempDir } from '../helpers.js';

const logger = createLogger('test', 'error');

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: reviews}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: reviews-v1}
spec: {selector: {app: reviews, version: v1}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: reviews-v2}
spec: {selector: {app: reviews, version: v2}}
`;

function edge(to: string, requests: number, successRate: number, p99Ms = 5): StatsRow {
  return { kind: 'edge', service: to, route: null, from: 'web', to, requests, rps: requests, successRate, p50Ms: 1, p95Ms: p99Ms, p99Ms, window: '2s' };
}

/** Traffic the test sets; every judged window sees it. */
class FakeStats implements RolloutStats {
  rowsNow: StatsRow[] = [];
  /** The window each rows() call asked for, latest last. */
  windows: number[] = [];
  latestAt: number | undefined;
  scrapes = 0;
  latestRoundAt(): number | undefined {
    return this.latestAt;
  }
  async scrape(): Promise<void> {
    this.scrapes++;
  }
  rows(windowMs: number): StatsRow[] {
    this.windows.push(windowMs);
    return this.rowsNow;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function route(store: Store, name: string): Promise<HTTPRoute> {
  const r = await store.get('HTTPRoute', 'default', name);
  assert.ok(r, `route ${name} exists`);
  return r as HTTPRoute;
}

function weights(r: HTTPRoute, rule = 0): Record<string, number> {
  return Object.fromEntries(r.spec.rules[rule].backendRefs.map((b) => [b.name, b.weight ?? 1]));
}

async function setup(dir: string, yaml = services): Promise<{ store: Store; clock: ManualClock; stats: FakeStats; open: () => Promise<RolloutController> }> {
  const store = await openStore('file', { dataDir: dir });
  await store.apply(resources(yaml));
  const clock = new ManualClock();
  const stats = new FakeStats();
  return { store, clock, stats, open: () => RolloutController.open({ store, dataDir: dir, logger, stats, clock }) };
}

test('a new backend that fails is rolled back automatically at the first step', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  const started = await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 50, 100], intervalMs: 2000 });
  assert.ok(started.ok, JSON.stringify(started));
  // no route existed: the rollout created one with the first step's split
  assert.deepEqual(weights(await route(store, 'reviews-rollout')), { 'reviews-v1': 9000, 'reviews-v2': 1000 });
  stats.rowsNow = [edge('reviews-v1', 900, 1), edge('reviews-v2', 100, 0.6)];
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'rolled-back', 'the rollback');
  const r = c.get('default', 'reviews')!;
  assert.equal(r.stepIndex, 0);
  assert.equal(r.history.length, 1);
  assert.equal(r.history[0].verdict, 'fail');
  assert.match(r.history[0].reason, /error rate 40\.00% vs 0\.00%/);
  assert.equal(r.history[0].newBackend.requests, 100);
  assert.deepEqual(weights(await route(store, 'reviews-rollout')), { 'reviews-v1': 10000, 'reviews-v2': 0 });
  assert.ok(r.events.some((e) => /rolled back automatically at step 1/.test(e.message)));
  // nothing is scheduled any more
  clock.advance(60_000);
  await c.close();
  assert.equal(c.get('default', 'reviews')?.history.length, 1);
  await store.close();
}));

test('a healthy new backend reaches 100 % step by step; the route keeps its other rules and fields', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir, services + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{name: reviews}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /beta}}]
    backendRefs: [{name: reviews-v2}]
  - matches: [{path: {type: PathPrefix, value: /}}]
    timeouts: {request: 3s}
    backendRefs: [{name: reviews-v1, port: 9080}]
`);
  const c = await open();
  // --from defaults to the route's current backend... of its first rule, which here is reviews-v2 = --to, so name it
  const started = await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 50, 100], intervalMs: 2000 });
  assert.ok(started.ok, JSON.stringify(started));
  let r = await route(store, 'reviews');
  assert.deepEqual(weights(r, 0), { 'reviews-v2': 1 }, 'a rule without the old backend is untouched');
  assert.deepEqual(weights(r, 1), { 'reviews-v1': 9000, 'reviews-v2': 1000 });
  assert.equal(r.spec.rules[1].timeouts?.request, '3s');
  assert.equal(r.spec.rules[1].backendRefs[1].port, 9080, 'the added backend takes the old one\'s port');
  stats.rowsNow = [edge('reviews-v1', 900, 0.99, 10), edge('reviews-v2', 100, 1, 11)];
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 1, 'step 2');
  assert.deepEqual(weights(await route(store, 'reviews'), 1), { 'reviews-v1': 5000, 'reviews-v2': 5000 });
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 2, 'step 3');
  assert.deepEqual(weights(await route(store, 'reviews'), 1), { 'reviews-v1': 0, 'reviews-v2': 10000 });
  // at 100 % the old backend has no traffic: the last baseline it had is the comparison
  stats.rowsNow = [edge('reviews-v2', 1000, 1, 11)];
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'completed', 'completion');
  r = await route(store, 'reviews');
  assert.deepEqual(weights(r, 1), { 'reviews-v1': 0, 'reviews-v2': 10000 });
  const state = c.get('default', 'reviews')!;
  assert.deepEqual(state.history.map((h) => [h.percent, h.verdict]), [[10, 'pass'], [50, 'pass'], [100, 'pass']]);
  assert.equal(state.history[2].baseline?.requests, 900);
  await c.close();
  await store.close();
}));

test('the step in force shows live figures of both backends over the rounds since it began; a finished rollout none', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  const started = await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 100], intervalMs: 5000 });
  assert.ok(started.ok, JSON.stringify(started));
  const r = c.get('default', 'reviews')!;
  // no round since the step began: nothing of the previous step's traffic is shown as this one's
  stats.latestAt = r.stepStartedAt - 10;
  stats.rowsNow = [edge('reviews-v1', 90, 1, 8), { ...edge('reviews-v2', 10, 0.9, 20), from: 'web' }, { ...edge('reviews-v2', 10, 0.5, 40), from: 'mobile' }];
  let live = c.view(r).live!;
  assert.equal(live.windowMs, 0);
  assert.deepEqual(live.to, { requests: 0, successRate: null, p99Ms: null, rps: 0 });
  // 1.5 s of rounds: the window asked for ends at the latest round and starts at the step
  clock.advance(1500);
  stats.latestAt = r.stepStartedAt + 1500;
  live = c.view(r).live!;
  assert.equal(stats.windows.at(-1), 1500);
  assert.deepEqual({ step: live.step, percent: live.percent, windowMs: live.windowMs }, { step: 1, percent: 10, windowMs: 1500 });
  assert.deepEqual(live.from, { requests: 90, successRate: 1, p99Ms: 8, rps: 90 });
  // two callers of the new backend: requests and rps add, success and p99 are request-weighted
  assert.deepEqual(live.to, { requests: 20, successRate: 0.7, p99Ms: 30, rps: 20 });
  // the state itself is untouched (the view is computed, never persisted)
  assert.equal((c.get('default', 'reviews') as unknown as { live?: unknown }).live, undefined);
  // completed: no step in force
  stats.rowsNow = [edge('reviews-v1', 900, 1), edge('reviews-v2', 100, 1)];
  clock.advance(3500);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 1, 'step 2');
  stats.rowsNow = [edge('reviews-v2', 1000, 1)];
  clock.advance(5000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'completed', 'completion');
  assert.equal(c.view(c.get('default', 'reviews')!).live, null);
  await c.close();
  await store.close();
}));

test('tells its listeners of every change, until they unsubscribe', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  let calls = 0;
  const off = c.onChange(() => calls++);
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [50, 100], intervalMs: 2000 })).ok);
  assert.ok(calls >= 2, `started and step 1 (${calls})`);
  const before = calls;
  stats.rowsNow = [edge('reviews-v1', 100, 1), edge('reviews-v2', 100, 1)];
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 1, 'step 2');
  assert.ok(calls > before, 'the verdict and the next step were told');
  off();
  const after = calls;
  assert.ok((await c.abort('default', 'reviews')).ok);
  assert.equal(calls, after);
  await c.close();
  await store.close();
}));

test('a slow new backend fails on p99; a fast one within the slack passes', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [50, 100], intervalMs: 1000, thresholds: { maxP99Ratio: 2 } })).ok);
  stats.rowsNow = [edge('reviews-v1', 500, 1, 4), edge('reviews-v2', 500, 1, 12)];
  clock.advance(1000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 1, 'step 2 (12 ms is 3× 4 ms but within 10 ms)');
  stats.rowsNow = [edge('reviews-v2', 500, 1, 40)];
  clock.advance(1000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'rolled-back', 'the rollback on p99');
  assert.match(c.get('default', 'reviews')!.history[1].reason, /p99 40\.0ms vs 4\.0ms/);
  await c.close();
  await store.close();
}));

test('no traffic to the new backend: waits the grace intervals, then rolls back', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 100], intervalMs: 1000 })).ok);
  stats.rowsNow = [edge('reviews-v1', 900, 1), edge('reviews-v2', 3, 1)];
  for (let i = 1; i <= 2; i++) {
    clock.advance(1000);
    await waitFor(() => c.get('default', 'reviews')?.graceUsed === i, `grace interval ${i}`);
    assert.equal(c.get('default', 'reviews')?.phase, 'progressing');
  }
  clock.advance(1000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'rolled-back', 'the rollback');
  assert.ok(c.get('default', 'reviews')!.events.some((e) => /no traffic to judge after 3 intervals/.test(e.message)));
  await c.close();
  await store.close();
}));

test('a restarted control plane resumes a rollout where it was', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  let c = await open();
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 50, 100], intervalMs: 2000 })).ok);
  stats.rowsNow = [edge('reviews-v1', 900, 1), edge('reviews-v2', 100, 1)];
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 1, 'step 2');
  await c.close();
  clock.advance(10_000); // nothing runs while it is down
  c = await open();
  const r = c.get('default', 'reviews')!;
  assert.equal(r.phase, 'progressing');
  assert.equal(r.stepIndex, 1);
  assert.equal(r.history.length, 1);
  assert.ok(r.events.at(-1)!.message.startsWith('resumed at step 2/3'));
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.stepIndex === 2, 'step 3 after the restart');
  clock.advance(2000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'completed', 'completion');
  assert.deepEqual(weights(await route(store, 'reviews-rollout')), { 'reviews-v1': 0, 'reviews-v2': 10000 });
  await c.close();
  await store.close();
}));

test('blue/green: one step switches at once; rollback switches back at once, also after completion', () => withTempDir(async (dir) => {
  const { store, clock, stats, open } = await setup(dir);
  const c = await open();
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [100], intervalMs: 1000 })).ok);
  assert.deepEqual(weights(await route(store, 'reviews-rollout')), { 'reviews-v1': 0, 'reviews-v2': 10000 });
  stats.rowsNow = [edge('reviews-v2', 100, 1)];
  clock.advance(1000);
  await waitFor(() => c.get('default', 'reviews')?.phase === 'completed', 'completion');
  const back = await c.rollback('default', 'reviews');
  assert.ok(back.ok);
  assert.equal(back.rollout.phase, 'rolled-back');
  assert.deepEqual(weights(await route(store, 'reviews-rollout')), { 'reviews-v1': 10000, 'reviews-v2': 0 });
  const again = await c.rollback('default', 'reviews');
  assert.equal(again.ok, false);
  // a new rollout may start once the previous one is over
  assert.ok((await c.start({ service: 'reviews', to: 'reviews-v2', steps: [100], intervalMs: 1000 })).ok, 'from defaults to the route\'s current backend');
  assert.equal(c.get('default', 'reviews')?.from, 'reviews-v1');
  const aborted = await c.abort('default', 'reviews');
  assert.ok(aborted.ok);
  assert.equal(aborted.rollout.phase, 'aborted');
  await c.close();
  await store.close();
}));

test('bad requests are refused with the flag they concern', () => withTempDir(async (dir) => {
  const { store, open } = await setup(dir);
  const c = await open();
  const cases: [Parameters<RolloutController['start']>[0], RegExp][] = [
    [{ service: 'reviews', to: 'nope', steps: [100], intervalMs: 1000 }, /--to: unknown service "nope"/],
    [{ service: 'reviews', to: 'reviews-v2', steps: [10, 50], intervalMs: 1000 }, /last step must be 100/],
    [{ service: 'reviews', to: 'reviews-v2', steps: [50, 10, 100], intervalMs: 1000 }, /--steps\[1\]/],
    [{ service: 'reviews', to: 'reviews-v2', steps: [100], intervalMs: 10 }, /--interval/],
    [{ service: 'reviews', to: 'reviews', steps: [100], intervalMs: 1000 }, /both "reviews"/],
  ];
  for (const [spec, re] of cases) {
    const r = await c.start(spec);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 400);
      assert.match(r.error, re);
    }
  }
  assert.equal((await store.list('HTTPRoute')).length, 0, 'a refused rollout writes nothing');
  assert.ok((await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [50, 100], intervalMs: 1000 })).ok);
  const twice = await c.start({ service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [50, 100], intervalMs: 1000 });
  assert.equal(twice.ok ? 0 : twice.status, 409);
  await c.close();
  await store.close();
}));
