import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, isPickError, type PickedEndpoint } from '../../../../src/proxy/cluster/cluster.js';
import type { ClusterEndpoint } from '../../../../src/proxy/cluster/cluster-endpoint.js';
import type { OutlierDetection } from '../../../../src/proxy/config/proxy-config.js';
import { errors } from '../../../../src/proxy/errors.js';
import { cluster as clusterConfig, endpoint } from '../../proxy-test-support.js';

const od: OutlierDetection = {
  consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50,
};

interface Rig {
  c: Cluster;
  clock: { now: number };
  ejections: string[];
  host(address: string): ClusterEndpoint;
  /** Runs one attempt on the named host (as if picked) with the given outcome. */
  attempt(address: string, outcome: 'success' | 'http-5xx' | 'connect-failure' | 'cancelled'): void;
  /** Addresses picked over n picks (each attempt started and ended with `outcome`). */
  picks(n: number, outcome?: 'success' | 'http-5xx' | 'connect-failure' | 'leave-open'): string[];
}

function rig(addresses: string[], config: Partial<OutlierDetection> | null = {}, random = () => 0): Rig {
  const clock = { now: 1_000 };
  const ejections: string[] = [];
  const c = new Cluster(
    clusterConfig('svc', { lbPolicy: { kind: 'round-robin' }, outlierDetection: config === null ? undefined : { ...od, ...config } }),
    { now: () => clock.now, random, ejected: (reason) => ejections.push(reason) },
  );
  c.updateEndpoints(addresses.map((a) => endpoint(a, 8080)));
  const host = (address: string) => c.hosts.find((h) => h.endpoint.address === address)!;
  return {
    c, clock, ejections, host,
    attempt(address, outcome) {
      const h = host(address);
      c.attemptStarted(h);
      c.attemptEnded(h, outcome, 5);
    },
    picks(n, outcome = 'success') {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const p = c.pick();
        if (isPickError(p)) {
          out.push(p.name);
          continue;
        }
        out.push(p.endpoint.address);
        c.attemptStarted(p);
        if (outcome !== 'leave-open') c.attemptEnded(p, outcome, 5);
      }
      return out;
    },
  };
}

function close(r: Rig): void {
  r.c.destroy();
}

test('ejected after 5 consecutive failures; not after 4 and a success', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 4; i++) r.attempt('a', 'http-5xx');
  r.attempt('a', 'success');
  for (let i = 0; i < 4; i++) r.attempt('a', 'connect-failure');
  assert.equal(r.host('a').state, 'healthy', '4 + success + 4 is not 5 in a row');
  assert.ok(r.host('a').pickable);
  r.attempt('a', 'http-5xx');
  assert.equal(r.host('a').state, 'ejected');
  assert.deepEqual(r.ejections, ['consecutive-failures']);
  assert.ok(!r.picks(30).includes('a'), 'an ejected host is never picked');
  close(r);
});

test('cancelled attempts count neither way', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 4; i++) r.attempt('a', 'http-5xx');
  r.attempt('a', 'cancelled');
  r.attempt('a', 'http-5xx');
  assert.equal(r.host('a').state, 'ejected');
  close(r);
});

test('after the ejection time one probe goes to the host; its success readmits it', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  r.clock.now += 29_999;
  assert.ok(!r.picks(30).includes('a'), 'still ejected before 30 s');
  r.clock.now += 1;
  // Leave attempts open: while the probe is in flight, no second request goes to the host.
  const open = r.picks(30, 'leave-open');
  assert.equal(open.filter((a) => a === 'a').length, 1, 'exactly one probe');
  assert.equal(r.host('a').state, 'ejected', 'on probation until the probe answers');
  r.c.attemptEnded(r.host('a'), 'success', 5);
  assert.equal(r.host('a').state, 'healthy');
  assert.equal(r.c.ejectedUntil(r.host('a')), null);
  assert.ok(r.picks(6).filter((a) => a === 'a').length >= 2, 'back in rotation');
  close(r);
});

test('a failed probe re-ejects at once, for longer', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  r.clock.now += 30_000;
  const seq = r.picks(3, 'leave-open');
  assert.ok(seq.includes('a'));
  r.c.attemptEnded(r.host('a'), 'connect-failure', 1);
  assert.equal(r.host('a').state, 'ejected');
  assert.deepEqual(r.ejections, ['consecutive-failures', 'probe-failure']);
  assert.equal(r.host('a').ejectedUntilMs, r.clock.now + 60_000, 'second ejection: 2 × base');
  r.clock.now += 59_999;
  assert.ok(!r.picks(30).includes('a'));
  close(r);
});

test('a cancelled probe leaves the host on probation for the next pick', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  r.clock.now += 30_000;
  r.picks(3, 'leave-open');
  r.c.attemptEnded(r.host('a'), 'cancelled', 1);
  assert.equal(r.host('a').outlier, 'probation');
  assert.ok(r.picks(3, 'success').includes('a'));
  assert.equal(r.host('a').state, 'healthy');
  close(r);
});

test('ejection time grows with each ejection and caps at maxEjectionMs; jitter is bounded', () => {
  const r = rig(['a', 'b', 'c'], { maxEjectionMs: 100_000 });
  const lengths: number[] = [];
  for (let n = 0; n < 6; n++) {
    for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
    const h = r.host('a');
    lengths.push(h.ejectedUntilMs - r.clock.now);
    r.clock.now = h.ejectedUntilMs;
    r.picks(3, 'leave-open');
    r.c.attemptEnded(h, 'success', 1); // readmitted, failing again at once: no forgiveness
    for (const other of r.c.hosts) other.inFlight = 0;
  }
  assert.deepEqual(lengths, [30_000, 60_000, 90_000, 100_000, 100_000, 100_000]);

  const j = rig(['a', 'b', 'c'], {}, () => 0.999);
  for (let i = 0; i < 5; i++) j.attempt('a', 'http-5xx');
  const len = j.host('a').ejectedUntilMs - j.clock.now;
  assert.ok(len > 30_000 && len <= 33_000, `jittered length ${len}`);
  close(r);
  close(j);
});

test('the multiplier is forgiven for healthy time after readmission', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  r.clock.now += 30_000;
  r.picks(3);
  assert.equal(r.host('a').state, 'healthy');
  r.clock.now += 10_000; // one interval healthy: one ejection forgiven
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  assert.equal(r.host('a').ejectedUntilMs - r.clock.now, 30_000);
  close(r);
});

test('max-ejection-percent is respected', () => {
  const r = rig(['a', 'b', 'c', 'd', 'e', 'f'], { maxEjectionPercent: 34 });
  for (const a of ['a', 'b', 'c']) for (let i = 0; i < 5; i++) r.attempt(a, 'http-5xx');
  // 34% of 6 = 2 hosts at most.
  assert.deepEqual(r.c.hosts.map((h) => h.state), ['ejected', 'ejected', 'healthy', 'healthy', 'healthy', 'healthy']);
  // Once one comes back, c's next failures may eject it.
  r.clock.now += 30_000;
  r.picks(12);
  for (let i = 0; i < 5; i++) r.attempt('c', 'http-5xx');
  assert.equal(r.host('c').state, 'ejected');
  close(r);
});

test('at least one host may be ejected even when the percentage rounds to zero', () => {
  const r = rig(['a', 'b', 'c'], { maxEjectionPercent: 10 });
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  assert.equal(r.host('a').state, 'ejected');
  for (let i = 0; i < 5; i++) r.attempt('b', 'http-5xx');
  assert.equal(r.host('b').state, 'healthy');
  close(r);
});

test('never the last healthy host', () => {
  const r = rig(['a', 'b'], { maxEjectionPercent: 100 });
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  for (let i = 0; i < 20; i++) r.attempt('b', 'http-5xx');
  assert.equal(r.host('a').state, 'ejected');
  assert.equal(r.host('b').state, 'healthy');
  assert.deepEqual(new Set(r.picks(5)), new Set(['b']));
  close(r);

  // EDS-unhealthy hosts do not count as healthy ones that could take over.
  const s = rig(['a', 'b']);
  s.c.updateEndpoints([endpoint('a', 8080), endpoint('b', 8080, { healthy: false })]);
  for (let i = 0; i < 10; i++) s.attempt('a', 'http-5xx');
  assert.equal(s.host('a').state, 'healthy');
  assert.equal(s.host('b').state, 'unhealthy');
  close(s);
});

test('without outlierDetection nothing is ever ejected', () => {
  const r = rig(['a', 'b'], null);
  for (let i = 0; i < 50; i++) r.attempt('a', 'connect-failure');
  assert.equal(r.host('a').state, 'healthy');
  assert.ok(r.picks(4).includes('a'));
  close(r);
});

test('turning outlier detection off readmits ejected hosts; state survives endpoint updates', () => {
  const r = rig(['a', 'b', 'c']);
  for (let i = 0; i < 5; i++) r.attempt('a', 'http-5xx');
  r.c.updateEndpoints([endpoint('a', 8080), endpoint('b', 8080), endpoint('c', 8080), endpoint('d', 8080)]);
  assert.equal(r.host('a').state, 'ejected', 'an endpoint push keeps the ejection');
  r.c.updateConfig(clusterConfig('svc', { lbPolicy: { kind: 'round-robin' } }));
  assert.equal(r.host('a').state, 'healthy');
  assert.ok(r.picks(8).includes('a'));
  close(r);
});

test('success-rate ejection (stdev rule) over an interval', () => {
  const r = rig(['a', 'b', 'c', 'd', 'e'], {
    consecutiveFailures: 0, successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
  });
  for (const a of ['a', 'b', 'c', 'd', 'e']) {
    for (let i = 0; i < 100; i++) r.attempt(a, a === 'e' ? (i % 2 === 0 ? 'http-5xx' : 'success') : i === 0 ? 'http-5xx' : 'success');
  }
  assert.equal(r.host('e').state, 'healthy', 'the consecutive rule is off');
  const detector = (r.c as unknown as { outlier: { sweep(): void } }).outlier;
  detector.sweep();
  assert.deepEqual(r.c.hosts.map((h) => h.state), ['healthy', 'healthy', 'healthy', 'healthy', 'ejected']);
  assert.deepEqual(r.ejections, ['success-rate']);
  assert.ok(!r.picks(20).includes('e'), 'the picker is rebuilt on the next pick');
  // Below requestVolume nobody qualifies.
  detector.sweep();
  close(r);
});

test('every pickable host gone → no-healthy-upstream', () => {
  const r = rig(['a']);
  r.c.updateEndpoints([endpoint('a', 8080, { healthy: false })]);
  const p = r.c.pick();
  assert.ok(isPickError(p));
  assert.equal(p, errors.noHealthyUpstream);
  close(r);
});

test('in-flight counts follow attemptStarted/attemptEnded', () => {
  const r = rig(['a']);
  const p = r.c.pick() as PickedEndpoint;
  r.c.attemptStarted(p);
  r.c.attemptStarted(p);
  assert.equal(r.host('a').inFlight, 2);
  r.c.attemptEnded(p, 'success', 12);
  assert.equal(r.host('a').inFlight, 1);
  assert.equal(r.c.ewmaMs(r.host('a')), 12);
  close(r);
});

test('a fast failure never lowers the RTT estimate; a retry can avoid the host that failed', () => {
  const r = rig(['a', 'b'], null);
  const a = r.host('a');
  r.c.attemptStarted(a);
  r.c.attemptEnded(a, 'success', 40);
  r.c.attemptStarted(a);
  r.c.attemptEnded(a, 'http-5xx', 1);
  assert.equal(r.c.ewmaMs(a), 40);
  r.clock.now += 1000;
  r.c.attemptStarted(a);
  r.c.attemptEnded(a, 'success', 1);
  assert.ok(r.c.ewmaMs(a)! < 40, 'a fast success does lower it');

  for (let i = 0; i < 10; i++) {
    const first = r.c.pick() as PickedEndpoint;
    const retry = r.c.pick(first) as PickedEndpoint;
    assert.notEqual(retry, first);
  }
  const single = rig(['only'], null);
  const p = single.c.pick() as PickedEndpoint;
  assert.equal(single.c.pick(p), p, 'a one-host cluster still answers');
  close(r);
  close(single);
});
