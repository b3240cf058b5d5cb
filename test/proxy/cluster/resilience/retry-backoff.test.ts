import test from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs } from '../../../../src/proxy/cluster/resilience/retry-backoff.js';
import { seededRandom } from './manual-clock.js';

test('full jitter: the ceiling doubles per retry up to the cap, the wait is uniform below it', () => {
  assert.equal(backoffMs(0, 25, 250, () => 0.999999), 24);
  assert.equal(backoffMs(1, 25, 250, () => 0.999999), 49);
  assert.equal(backoffMs(3, 25, 250, () => 0.999999), 199);
  assert.equal(backoffMs(4, 25, 250, () => 0.999999), 249);
  assert.equal(backoffMs(40, 25, 250, () => 0.999999), 249);
  assert.equal(backoffMs(2, 25, 250, () => 0), 0);
  const rnd = seededRandom(7);
  let sum = 0;
  for (let i = 0; i < 2000; i++) sum += backoffMs(2, 25, 250, rnd);
  const mean = sum / 2000;
  assert.ok(mean > 40 && mean < 60, `mean ${mean} of uniform [0,100)`);
});

test('no base means no wait', () => {
  assert.equal(backoffMs(3, 0, 100, () => 0.5), 0);
});
