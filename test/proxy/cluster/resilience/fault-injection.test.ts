import test from 'node:test';
import assert from 'node:assert/strict';
import { CompiledFault } from '../../../../src/proxy/cluster/resilience/fault-injection.js';
import { errors } from '../../../../src/proxy/errors.js';
import { seededRandom } from './manual-clock.js';

test('100% aborts every request with the configured status and the fault-abort code', () => {
  const f = new CompiledFault({ abort: { percent: 100, httpStatus: 418 } });
  const rnd = seededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const e = f.abort(rnd);
    assert.ok(e !== null);
    assert.equal(e.status, 418);
    assert.equal(e.name, errors.faultAbort.name);
    assert.equal(e.code, errors.faultAbort.code);
  }
  assert.equal(f.delay(rnd), 0);
});

test('0% never fires', () => {
  const f = new CompiledFault({ abort: { percent: 0, httpStatus: 503 }, delay: { percent: 0, delayMs: 100 } });
  const rnd = seededRandom(2);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(f.abort(rnd), null);
    assert.equal(f.delay(rnd), 0);
  }
});

test('a fractional percent fires at about that rate over many requests (seeded)', () => {
  const f = new CompiledFault({ delay: { percent: 0.5, delayMs: 40 }, abort: { percent: 12.5, httpStatus: 503 } });
  const rnd = seededRandom(42);
  let delayed = 0;
  let aborted = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    if (f.abort(rnd) !== null) aborted++;
    if (f.delay(rnd) === 40) delayed++;
  }
  // Binomial: ±5 standard deviations stays clear of chance yet catches a wrong scale (×100, ×0.01).
  assert.ok(Math.abs(delayed - n * 0.005) < 5 * Math.sqrt(n * 0.005), `delayed ${delayed}`);
  assert.ok(Math.abs(aborted - n * 0.125) < 5 * Math.sqrt(n * 0.125 * 0.875), `aborted ${aborted}`);
});

test('the abort error is made once per status', () => {
  const a = new CompiledFault({ abort: { percent: 100, httpStatus: 500 } });
  const b = new CompiledFault({ abort: { percent: 100, httpStatus: 500 } });
  assert.equal(a.abortError, b.abortError);
  assert.equal(new CompiledFault({ abort: { percent: 100, httpStatus: 503 } }).abortError, errors.faultAbort);
});
