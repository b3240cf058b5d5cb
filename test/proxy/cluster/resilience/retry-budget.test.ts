import test from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudgetWindow } from '../../../../src/proxy/cluster/resilience/retry-budget.js';

const budget = { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 };

test('the floor allows minRetriesPerSecond × window retries with no traffic at all', () => {
  const w = new RetryBudgetWindow();
  let allowed = 0;
  for (let i = 0; i < 500; i++) if (w.tryRetry(budget, 1000)) allowed++;
  assert.equal(allowed, 100);
});

test('above the floor, retries stay within ratio × requests in the window', () => {
  const w = new RetryBudgetWindow();
  const cfg = { ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000 };
  let allowed = 0;
  // 1000 requests over 5 s, each failing and asking for up to 2 retries.
  for (let i = 0; i < 1000; i++) {
    const now = i * 5;
    w.recordRequest(cfg, now);
    for (let r = 0; r < 2; r++) if (w.tryRetry(cfg, now)) allowed++;
  }
  assert.ok(allowed <= 200, `allowed ${allowed}`);
  assert.ok(allowed >= 190, `allowed ${allowed}`);
});

test('the window slides: old retries age out and the floor is available again', () => {
  const w = new RetryBudgetWindow();
  const cfg = { ratio: 0, minRetriesPerSecond: 1, windowMs: 10_000 };
  let n = 0;
  while (w.tryRetry(cfg, 0)) n++;
  assert.equal(n, 10);
  assert.equal(w.tryRetry(cfg, 9_999), false);
  assert.equal(w.tryRetry(cfg, 10_000), true, 'the first bucket has left the window');
  let later = 1;
  while (w.tryRetry(cfg, 10_000)) later++;
  assert.equal(later, 10);
  assert.equal(w.tryRetry(cfg, 50_000), true, 'long idle: everything aged out');
});

test('requests older than the window no longer raise the allowance', () => {
  const w = new RetryBudgetWindow();
  const cfg = { ratio: 0.5, minRetriesPerSecond: 0, windowMs: 1000 };
  for (let i = 0; i < 100; i++) w.recordRequest(cfg, 0);
  let now0 = 0;
  while (w.tryRetry(cfg, 10)) now0++;
  assert.equal(now0, 50);
  assert.equal(w.tryRetry(cfg, 5000), false, 'the 100 requests left the window');
});
