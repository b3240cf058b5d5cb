import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramQuantile } from '../../../src/control/telemetry/histogram-quantile.js';

const near = (a: number | null, b: number, eps = 1e-9) => assert.ok(a !== null && Math.abs(a - b) < eps, `${a} != ${b}`);

test('interpolates linearly inside the bucket where the rank falls (PromQL semantics)', () => {
  // 100 observations: 10 in (0, 0.01], 80 in (0.01, 0.05], 10 in (0.05, 0.1]
  const buckets = [{ le: 0.01, count: 10 }, { le: 0.05, count: 90 }, { le: 0.1, count: 100 }, { le: Infinity, count: 100 }];
  near(histogramQuantile(0.5, buckets), 0.01 + 0.04 * (40 / 80)); // 0.03
  near(histogramQuantile(0.95, buckets), 0.05 + 0.05 * (5 / 10)); // 0.075
  near(histogramQuantile(0.99, buckets), 0.05 + 0.05 * (9 / 10)); // 0.095
  near(histogramQuantile(0.05, buckets), 0.01 * (5 / 10)); // first bucket starts at 0
  near(histogramQuantile(0, buckets), 0);
  near(histogramQuantile(1, buckets), 0.1);
});

test('a rank in the +Inf bucket gives the highest finite bound', () => {
  const buckets = [{ le: 0.1, count: 50 }, { le: 1, count: 90 }, { le: Infinity, count: 100 }];
  near(histogramQuantile(0.99, buckets), 1);
});

test('order of buckets does not matter; non-monotonic counts are fixed up', () => {
  const buckets = [{ le: Infinity, count: 10 }, { le: 0.2, count: 10 }, { le: 0.1, count: 11 }];
  // fixed up to 0.1:11? no: counts are made monotonic upward, so 0.2 becomes 11 and +Inf 11
  near(histogramQuantile(0.5, buckets), 0.1 * (5.5 / 11));
});

test('no observations, no +Inf bucket, or q out of range', () => {
  assert.equal(histogramQuantile(0.5, []), null);
  assert.equal(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }]), null);
  assert.equal(histogramQuantile(0.5, [{ le: 0.1, count: 3 }]), null);
  assert.equal(histogramQuantile(-1, [{ le: 0.1, count: 3 }, { le: Infinity, count: 3 }]), -Infinity);
  assert.equal(histogramQuantile(2, [{ le: 0.1, count: 3 }, { le: Infinity, count: 3 }]), Infinity);
});
