import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRobinLoadBalancer, buildSchedule, setup } from '../../../../src/proxy/cluster/balancer/load-balancer-round-robin.js';
import { createLoadBalancer } from '../../../../src/proxy/cluster/balancer/load-balancer.js';
import { errors } from '../../../../src/proxy/errors.js';
import { host as endpoint } from './balancer-test-support.js';

function picks(lb: RoundRobinLoadBalancer, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = lb.picker.pick();
    assert.equal(r.kind, 'complete');
    if (r.kind === 'complete') out.push(r.endpoint.address);
  }
  return out;
}

test('equal weights rotate through every endpoint', () => {
  const lb = new RoundRobinLoadBalancer(() => 0);
  lb.updateEndpoints([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)]);
  assert.deepEqual(picks(lb, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('weights are honoured and interleaved smoothly', () => {
  const lb = new RoundRobinLoadBalancer(() => 0);
  lb.updateEndpoints([endpoint('a', 1, { weight: 3 }), endpoint('b', 1, { weight: 1 })]);
  const seq = picks(lb, 8);
  assert.equal(seq.filter((x) => x === 'a').length, 6);
  assert.equal(seq.filter((x) => x === 'b').length, 2);
  assert.notDeepEqual(seq.slice(0, 4), ['a', 'a', 'a', 'b'], 'smooth WRR interleaves');
});

test('unhealthy endpoints are skipped', () => {
  const lb = new RoundRobinLoadBalancer(() => 0);
  lb.updateEndpoints([endpoint('a', 1), endpoint('b', 1, { healthy: false }), endpoint('c', 1)]);
  assert.ok(!picks(lb, 10).includes('b'));
});

test('no healthy endpoint → no-healthy-upstream, never an unhealthy one', () => {
  const lb = new RoundRobinLoadBalancer();
  lb.updateEndpoints([endpoint('a', 1, { healthy: false })]);
  const r = lb.picker.pick();
  assert.equal(r.kind, 'fail');
  if (r.kind === 'fail') assert.equal(r.error, errors.noHealthyUpstream);
  lb.updateEndpoints([]);
  assert.equal(lb.picker.pick().kind, 'fail');
});

test('an update replaces the picker; the old one keeps its own endpoints', () => {
  const lb = new RoundRobinLoadBalancer(() => 0);
  lb.updateEndpoints([endpoint('a', 1)]);
  const old = lb.picker;
  lb.updateEndpoints([endpoint('b', 1)]);
  const o = old.pick();
  const n = lb.picker.pick();
  assert.equal(o.kind === 'complete' && o.endpoint.address, 'a');
  assert.equal(n.kind === 'complete' && n.endpoint.address, 'b');
});

test('a pick returns the host itself (no allocation per pick)', () => {
  const lb = new RoundRobinLoadBalancer(() => 0);
  const h = endpoint('a', 1);
  lb.updateEndpoints([h]);
  const a = lb.picker.pick();
  const b = lb.picker.pick();
  assert.equal(a, h);
  assert.equal(b, h);
});

test('huge weight sums are scaled, keeping proportions', () => {
  const s = buildSchedule([endpoint('a', 1, { weight: 1_000_000 }), endpoint('b', 1, { weight: 3_000_000 })]);
  assert.equal(s.length, 4, 'common divisor removed');
  const big = buildSchedule([endpoint('a', 1, { weight: 9999 }), endpoint('b', 1, { weight: 10007 })]);
  assert.ok(big.length <= 4096 + 2);
  const share = big.filter((p) => p.endpoint.address === 'a').length / big.length;
  assert.ok(Math.abs(share - 9999 / 20006) < 0.01);
});

test('registered by name', () => {
  setup();
  assert.equal(createLoadBalancer('round-robin').name, 'round-robin');
  assert.throws(() => createLoadBalancer('nope'), /unknown load balancer/);
});
