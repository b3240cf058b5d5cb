import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastRequestLoadBalancer, setup } from '../../../../src/proxy/cluster/balancer/load-balancer-least-request.js';
import { createLoadBalancer, type BalancerHost } from '../../../../src/proxy/cluster/balancer/load-balancer.js';
import { errors } from '../../../../src/proxy/errors.js';
import { host, seeded, tally } from './balancer-test-support.js';

function lb(seed = 1, choiceCount = 2): LeastRequestLoadBalancer {
  return new LeastRequestLoadBalancer({ kind: 'least-request', choiceCount }, seeded(seed));
}

function pickOf(b: LeastRequestLoadBalancer): () => BalancerHost | null {
  return () => {
    const r = b.picker.pick();
    return r.kind === 'complete' ? r : null;
  };
}

test('equal load: P2C spreads picks evenly over many draws', () => {
  const b = lb(7);
  b.updateEndpoints([host('a'), host('b'), host('c'), host('d')]);
  const counts = tally(pickOf(b), 40_000);
  for (const k of ['a', 'b', 'c', 'd']) {
    const share = (counts.get(k) ?? 0) / 40_000;
    assert.ok(Math.abs(share - 0.25) < 0.02, `${k} got ${share}`);
  }
});

test('prefers the host with fewer attempts in flight', () => {
  const b = lb(3);
  const busy = host('busy');
  const idle = host('idle');
  const other = host('other');
  busy.inFlight = 10;
  other.inFlight = 2;
  b.updateEndpoints([busy, idle, other]);
  const counts = tally(pickOf(b), 9000);
  // busy loses every comparison; it can only win a draw against itself, which P2C never makes.
  assert.equal(counts.get('busy') ?? 0, 0);
  // idle wins every pair it is in (2 of 3 pairs), other wins only busy+other (1 of 3).
  const idleShare = (counts.get('idle') ?? 0) / 9000;
  assert.ok(Math.abs(idleShare - 2 / 3) < 0.03, `idle got ${idleShare}`);
});

test('picks follow in-flight counts as they change, without a picker rebuild', () => {
  const b = lb(5);
  const a = host('a');
  const c = host('c');
  b.updateEndpoints([a, c]);
  a.inFlight = 5;
  assert.equal(b.picker.pick(), c);
  c.inFlight = 9;
  assert.equal(b.picker.pick(), a);
});

test('weights: effective weight = weight / (in-flight + 1)', () => {
  const b = lb(11);
  const heavy = host('heavy', 1, { weight: 3 });
  const light = host('light', 1, { weight: 1 });
  b.updateEndpoints([heavy, light]);
  // heavy carries 3× the attempts of light and still looks as loaded: (5+1)/3 < (2+1)/1? 2 < 3 → heavy.
  heavy.inFlight = 5;
  light.inFlight = 2;
  assert.equal(b.picker.pick(), heavy);
  heavy.inFlight = 9; // (9+1)/3 = 3.33 > 3 → light
  assert.equal(b.picker.pick(), light);
  // Simulated steady load: each pick adds one attempt, the oldest finish; in-flight settles 3:1.
  heavy.inFlight = 0;
  light.inFlight = 0;
  const counts = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const h = b.picker.pick() as typeof heavy;
    h.inFlight++;
    counts.set(h.endpoint.address, (counts.get(h.endpoint.address) ?? 0) + 1);
    // Every host finishes a share of its attempts each step, so in-flight tracks the pick rate.
    if (i % 8 === 7) {
      heavy.inFlight = Math.floor(heavy.inFlight / 2);
      light.inFlight = Math.floor(light.inFlight / 2);
    }
  }
  const ratio = (counts.get('heavy') ?? 0) / (counts.get('light') ?? 1);
  assert.ok(ratio > 2 && ratio < 4.5, `heavy:light = ${ratio}`);
});

test('choiceCount > 2 draws more candidates and finds the idle one more often', () => {
  const hosts = Array.from({ length: 10 }, (_, i) => host(`h${i}`));
  for (const h of hosts) h.inFlight = 5;
  hosts[0].inFlight = 0;
  const two = lb(9, 2);
  const five = lb(9, 5);
  two.updateEndpoints(hosts);
  five.updateEndpoints(hosts);
  const share2 = (tally(pickOf(two), 5000).get('h0') ?? 0) / 5000;
  const share5 = (tally(pickOf(five), 5000).get('h0') ?? 0) / 5000;
  assert.ok(Math.abs(share2 - 0.2) < 0.03, `2 choices: ${share2}`);
  assert.ok(share5 > 0.3, `5 choices: ${share5}`);
});

test('single host, unhealthy and zero-weight hosts, empty', () => {
  const b = lb();
  const only = host('only');
  b.updateEndpoints([only, host('sick', 1, { healthy: false }), host('zero', 1, { weight: 0 })]);
  const counts = tally(pickOf(b), 100);
  assert.equal(counts.get('only'), 100);
  b.updateEndpoints([]);
  const r = b.picker.pick();
  assert.equal(r.kind, 'fail');
  if (r.kind === 'fail') assert.equal(r.error, errors.noHealthyUpstream);
});

test('registered by name with its config', () => {
  setup();
  assert.equal(createLoadBalancer({ kind: 'least-request', choiceCount: 3 }).name, 'least-request');
});
