// Priority failover: the overprovisioning arithmetic, and a cluster that splits picks between
// priority levels by their health (EDS health and outlier ejection), spills over and comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cumulativeLoads, priorityLoads } from '../../../src/proxy/cluster/locality.js';
import { Cluster, isPickError, type PickedEndpoint } from '../../../src/proxy/cluster/cluster.js';
import { cluster, endpoint } from '../proxy-test-support.js';

const close = (actual: number[], expected: number[]) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) < 1e-9, `${actual} ≈ ${expected}`));
};

test('loads: a priority keeps everything while healthy × 1.4 reaches 100 %', () => {
  close(priorityLoads([4, 4, 4], [4, 4, 4]), [1, 0, 0]);
  // 4 of 5 healthy: 80 % × 1.4 = 112 % → still all of it
  close(priorityLoads([4, 5], [5, 5]), [1, 0]);
  // 5 of 7 healthy: 71.4 % × 1.4 = 100 % exactly
  close(priorityLoads([5, 3], [7, 3]), [1, 0]);
});

test('loads: what a partly healthy priority cannot take spills to the next, in order', () => {
  // half healthy: 70 % stays, 30 % to P1
  close(priorityLoads([1, 2], [2, 2]), [0.7, 0.3]);
  // P0 20 % healthy (28 %), P1 20 % (28 %), P2 takes the remaining 44 %
  close(priorityLoads([1, 1, 5], [5, 5, 5]), [0.28, 0.28, 0.44]);
  // P1 can take at most 70 %: it gets 70 of the 80 left, P2 the last 10
  close(priorityLoads([1, 1, 4], [5, 2, 4]), [0.28, 0.7, 0.02]);
  // nothing healthy in P0
  close(priorityLoads([0, 3], [2, 3]), [0, 1]);
});

test('loads: when every priority is degraded the loads are scaled up to 100 % in proportion', () => {
  // 10 % and 10 % healthy: 14 % + 14 % = 28 % capacity → 50/50
  close(priorityLoads([1, 1], [10, 10]), [0.5, 0.5]);
  // 10 % and 30 %: 14 and 42 → 25 % and 75 %
  close(priorityLoads([1, 3], [10, 10]), [0.25, 0.75]);
  // nothing healthy anywhere: no load (the cluster answers no healthy upstream)
  close(priorityLoads([0, 0], [2, 2]), [0, 0]);
  // an empty priority takes nothing
  close(priorityLoads([0, 2], [0, 2]), [0, 1]);
});

test('loads: the factor is a parameter (1.0 = no overprovisioning)', () => {
  close(priorityLoads([4, 5], [5, 5], 1), [0.8, 0.2]);
});

test('cumulative loads end at exactly 1 at the last loaded level', () => {
  close(cumulativeLoads([0.7, 0.3, 0]), [0.7, 1, 1]);
  close(cumulativeLoads([0.1 + 0.2, 0.7]), [0.30000000000000004, 1]);
  close(cumulativeLoads([0, 1]), [0, 1]);
});

/** A deterministic uniform source, so the test counts do not depend on luck. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// The pools never connect here: picks do not open sockets. The addresses are in this test's range.
const a = (n: number) => endpoint(`127.0.36.${n}`, 9000, { zone: 'zone-a', priority: 0 });
const b = (n: number) => endpoint(`127.0.36.${10 + n}`, 9000, { zone: 'zone-b', priority: 1 });

function zoneCounts(c: Cluster, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = c.pick();
    assert.ok(!isPickError(p), 'a host is picked');
    counts.set(p.endpoint.zone, (counts.get(p.endpoint.zone) ?? 0) + 1);
  }
  return counts;
}

test('cluster: all traffic stays in priority 0 while it is healthy; half of it down spills 30 % over', () => {
  const c = new Cluster(cluster('api.default'), { random: seeded(7) });
  c.updateEndpoints([a(1), a(2), b(1), b(2)]);
  assert.deepEqual(c.priorityShares.map((s) => [s.priority, s.hosts, s.share]), [[0, 2, 1], [1, 2, 0]]);
  assert.deepEqual([...zoneCounts(c, 1000)], [['zone-a', 1000]]);
  c.updateEndpoints([a(1), { ...a(2), healthy: false }, b(1), b(2)]);
  close(c.priorityShares.map((s) => s.share), [0.7, 0.3]);
  // 10 000 seeded draws: 30 % ± 2 points (the binomial sd is 0.46 points)
  const counts = zoneCounts(c, 10_000);
  const spilled = (counts.get('zone-b') ?? 0) / 10_000;
  assert.ok(spilled > 0.28 && spilled < 0.32, `spilled ${spilled}`);
  c.updateEndpoints([a(1), a(2), b(1), b(2)]);
  assert.deepEqual([...zoneCounts(c, 1000)], [['zone-a', 1000]], 'back in zone-a once it recovered');
  c.destroy();
});

test('cluster: outlier-ejected hosts count as unhealthy, and traffic returns when the ejection ends', () => {
  let now = 1000;
  const config = cluster('api.default', {
    outlierDetection: { consecutiveFailures: 3, intervalMs: 1000, baseEjectionMs: 5000, maxEjectionMs: 50_000, maxEjectionPercent: 100 },
  });
  const c = new Cluster(config, { random: seeded(11), now: () => now });
  c.updateEndpoints([a(1), b(1), b(2)]);
  const only = c.pick() as PickedEndpoint;
  assert.equal(only.endpoint.zone, 'zone-a');
  for (let i = 0; i < 3; i++) {
    c.attemptStarted(only);
    c.attemptEnded(only, 'connect-failure', 1);
  }
  close(c.priorityShares.map((s) => s.share), [0, 1]);
  assert.deepEqual([...zoneCounts(c, 200)], [['zone-b', 200]]);
  // ejections are jittered by up to 10 %: 5 s × 1.1 is surely over
  now += 5600;
  // the ejection ends: the host is on probation and counts as healthy again
  zoneCounts(c, 1);
  close(c.priorityShares.map((s) => s.share), [1, 0]);
  c.destroy();
});

test('cluster: a retry that would land on the host that just failed goes to the next priority', () => {
  const c = new Cluster(cluster('api.default'), { random: seeded(3) });
  c.updateEndpoints([a(1), b(1)]);
  const first = c.pick() as PickedEndpoint;
  assert.equal(first.endpoint.zone, 'zone-a');
  const retry = c.pick(first) as PickedEndpoint;
  assert.equal(retry.endpoint.zone, 'zone-b');
  // without a next priority the only host is returned anyway, as before
  const single = new Cluster(cluster('one.default'), { random: seeded(3) });
  single.updateEndpoints([a(1)]);
  const p = single.pick() as PickedEndpoint;
  assert.equal(single.pick(p), p);
  c.destroy();
  single.destroy();
});

test('cluster: when a whole zone dies, a retry skips the hosts whose last attempt failed before they are ejected', () => {
  const config = cluster('api.default', {
    outlierDetection: { consecutiveFailures: 5, intervalMs: 1000, baseEjectionMs: 5000, maxEjectionMs: 50_000, maxEjectionPercent: 50 },
  });
  const c = new Cluster(config, { random: seeded(9) });
  c.updateEndpoints([a(1), a(2), b(1), b(2)]);
  const fail = (p: PickedEndpoint) => {
    c.attemptStarted(p);
    c.attemptEnded(p, 'connect-failure', 1);
  };
  const first = c.pick() as PickedEndpoint;
  fail(first);
  const second = c.pick(first) as PickedEndpoint;
  assert.equal(second.endpoint.zone, 'zone-a', 'the other host of the zone is tried first');
  assert.notEqual(second, first);
  fail(second);
  // both zone-a hosts failed once (far from ejection): the next retry leaves the zone
  for (let i = 0; i < 20; i++) assert.equal((c.pick(second) as PickedEndpoint).endpoint.zone, 'zone-b');
  // a first attempt still follows the priority loads (zone-a: nothing is ejected yet)
  assert.equal((c.pick() as PickedEndpoint).endpoint.zone, 'zone-a');
  c.destroy();
});

test('cluster: a level whose hosts are all unpickable hands its picks to the others; none at all is an error', () => {
  const c = new Cluster(cluster('api.default'), { random: seeded(5) });
  c.updateEndpoints([{ ...a(1), healthy: false }, b(1)]);
  assert.deepEqual([...zoneCounts(c, 50)], [['zone-b', 50]]);
  c.updateEndpoints([{ ...a(1), healthy: false }, { ...b(1), healthy: false }]);
  assert.ok(isPickError(c.pick()));
  c.destroy();
});
