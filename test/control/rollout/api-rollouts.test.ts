// The rollout API over HTTP: bodies checked field by field, the controller's refusals passed on
// with their status, and the rollout readable, abortable and roll-back-able by path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../src/common/log.js';
import '../../../src/control/store/store-file.js';
import { openStore } from '../../../src/control/store/store.js';
import { ApiServer } from '../../../src/control/api/api-server.js';
import { Registry } from '../../../src/control/registry.js';
import { RolloutController } from '../../../src/control/rollout/rollout-controller.js';
import { ManualClock, resources, withTempDir } from '../helpers.js';

const logger = createLogger('test', 'error');

test('POST/GET /api/v1/rollouts and abort/rollback by path', () => withTempDir(async (dir) => {
  const store = await openStore('file', { dataDir: dir });
  await store.apply(resources(['reviews', 'reviews-v1', 'reviews-v2'].map((n) => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: ${n}}\n`).join('---\n')));
  const rollouts = await RolloutController.open({ store, dataDir: dir, logger, clock: new ManualClock() });
  const api = new ApiServer({ store, registry: new Registry(), logger, rollouts });
  const port = await api.listen('127.0.36.2', 0);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.36.2:${port}${path}`, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  try {
    assert.deepEqual((await call('GET', '/api/v1/rollouts')).body, []);
    assert.equal((await call('POST', '/api/v1/rollouts', '{nope')).status, 400);
    const noTo = await call('POST', '/api/v1/rollouts', { service: 'reviews', steps: [100], intervalMs: 1000 });
    assert.equal(noTo.status, 400);
    assert.match(noTo.body.error, /"to" is required/);
    const badSteps = await call('POST', '/api/v1/rollouts', { service: 'reviews', to: 'reviews-v2', steps: '10,100', intervalMs: 1000 });
    assert.match(badSteps.body.error, /"steps" must be a list/);
    const unknown = await call('POST', '/api/v1/rollouts', { service: 'reviews', to: 'reviews-v9', steps: [100], intervalMs: 1000 });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /--to: unknown service "reviews-v9"/);

    const started = await call('POST', '/api/v1/rollouts', { service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [10, 100], intervalMs: 5000, thresholds: { maxErrorRateIncrease: 0.01 } });
    assert.equal(started.status, 201);
    assert.equal(started.body.phase, 'progressing');
    assert.equal(started.body.thresholds.maxErrorRateIncrease, 0.01);
    assert.equal(started.body.thresholds.maxP99Ratio, 1.5, 'unset thresholds keep their defaults');
    assert.equal((await call('POST', '/api/v1/rollouts', { service: 'reviews', from: 'reviews-v1', to: 'reviews-v2', steps: [100], intervalMs: 1000 })).status, 409);
    assert.equal((await call('GET', '/api/v1/rollouts/default/reviews')).body.weights.to, 1000);
    assert.equal((await call('GET', '/api/v1/rollouts/default/reviews')).body.live, null, 'no telemetry here: no live figures');
    assert.equal((await call('GET', '/api/v1/rollouts/default/nothing')).status, 404);
    assert.equal((await call('GET', '/api/v1/rollouts?service=reviews')).body.length, 1);

    const aborted = await call('POST', '/api/v1/rollouts/default/reviews/abort');
    assert.equal(aborted.status, 200);
    assert.equal(aborted.body.phase, 'aborted');
    assert.deepEqual(aborted.body.weights, { from: 10_000, to: 0 });
    assert.equal((await call('POST', '/api/v1/rollouts/default/reviews/abort')).status, 409);
    assert.equal((await call('POST', '/api/v1/rollouts/default/reviews/rollback')).status, 409);
  } finally {
    await api.close();
    await rollouts.close();
    await store.close();
  }
}));
