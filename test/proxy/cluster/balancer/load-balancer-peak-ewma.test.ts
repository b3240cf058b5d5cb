import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PeakEwmaLoadBalancer, observeRtt, rttCost, setup,
} from '../../../../src/proxy/cluster/balancer/load-balancer-peak-ewma.js';
import { createLoadBalancer, type BalancerHost } from '../../../../src/proxy/cluster/balancer/load-balancer.js';
import { host, seeded, tally, type TestHost } from './balancer-test-support.js';

const decayMs = 10_000;
const defaultRttMs = 30;

function balancer(clock: { now: number }, seed = 1): PeakEwmaLoadBalancer {
  return new PeakEwmaLoadBalancer({ kind: 'peak-ewma', decayMs, defaultRttMs }, { now: () => clock.now, random: seeded(seed) });
}

function pickOf(b: PeakEwmaLoadBalancer): () => BalancerHost | null {
  return () => {
    const r = b.picker.pick();
    return r.kind === 'complete' ? r : null;
  };
}

test('the estimate jumps to a peak at once and decays with the time constant', () => {
  const h = host('a');
  observeRtt(h, 10, 0, decayMs);
  assert.equal(rttCost(h, 0, decayMs, defaultRttMs), 10);
  observeRtt(h, 100, 1, decayMs);
  assert.equal(h.rttMs, 100, 'a peak replaces the estimate');
  // One time constant later the cost is 1/e of the peak.
  assert.ok(Math.abs(rttCost(h, 1 + decayMs, decayMs, defaultRttMs) - 100 / Math.E) < 1e-9);
  // A lower observation pulls the faded estimate towards it by how long ago the last one was.
  observeRtt(h, 10, 1 + 1000, decayMs);
  const d = Math.exp(-0.1);
  assert.ok(Math.abs(h.rttMs - (100 * d * d + 10 * (1 - d))) < 1e-9, `estimate ${h.rttMs}`);
  // Faded below a new observation, the observation is the new peak.
  observeRtt(h, 10, 1 + 1000 + 3 * decayMs, decayMs);
  assert.equal(h.rttMs, 10);
});

test('P2C over many seeded draws spreads equal hosts evenly', () => {
  const clock = { now: 0 };
  const b = balancer(clock, 42);
  const hosts = ['a', 'b', 'c'].map((a) => host(a));
  for (const h of hosts) observeRtt(h, 10, 0, decayMs);
  b.updateEndpoints(hosts);
  const counts = tally(pickOf(b), 30_000);
  for (const k of ['a', 'b', 'c']) {
    const share = (counts.get(k) ?? 0) / 30_000;
    assert.ok(Math.abs(share - 1 / 3) < 0.02, `${k} got ${share}`);
  }
});

test('load = cost × (in-flight + 1): a fast host with a queue loses to a slower idle one', () => {
  const clock = { now: 0 };
  const b = balancer(clock);
  const fast = host('fast');
  const slow = host('slow');
  observeRtt(fast, 10, 0, decayMs);
  observeRtt(slow, 25, 0, decayMs);
  b.updateEndpoints([fast, slow]);
  assert.equal(b.picker.pick(), fast);
  fast.inFlight = 2; // 30 > 25
  assert.equal(b.picker.pick(), slow);
});

test('a host without history costs defaultRttMs: tried, not starved', () => {
  const clock = { now: 0 };
  const b = balancer(clock);
  const known = host('known');
  const fresh = host('fresh');
  observeRtt(known, 50, 0, decayMs);
  b.updateEndpoints([known, fresh]);
  assert.equal(b.picker.pick(), fresh, '30 ms default beats a 50 ms history');
  observeRtt(known, 10, 0, decayMs);
  known.rttMs = 10;
  known.inFlight = 3; // 10 × 4 = 40 > 30
  assert.equal(b.picker.pick(), fresh);
  known.inFlight = 1; // 20 < 30
  assert.equal(b.picker.pick(), known);
});

test('weights divide the load', () => {
  const clock = { now: 0 };
  const b = balancer(clock);
  const heavy = host('heavy', 1, { weight: 4 });
  const light = host('light', 1, { weight: 1 });
  observeRtt(heavy, 30, 0, decayMs);
  observeRtt(light, 10, 0, decayMs);
  b.updateEndpoints([heavy, light]);
  assert.equal(b.picker.pick(), heavy, '30/4 < 10/1');
  heavy.inFlight = 1; // 60/4 = 15 > 10
  assert.equal(b.picker.pick(), light);
});

/**
 * A discrete-event run on a simulated clock: requests arrive every `gapMs`, each goes to the
 * picked host, takes that host's latency at the time it starts, and its RTT is observed when it
 * completes. Returns the share of one host among picks in each [from, to) window.
 */
function simulate(
  b: PeakEwmaLoadBalancer,
  clock: { now: number },
  hosts: TestHost[],
  latency: (h: TestHost, t: number) => number,
  endMs: number,
  gapMs: number,
): { share: (address: string, from: number, to: number) => number } {
  const picks: Array<[number, string]> = [];
  const pending: Array<{ at: number; h: TestHost; rtt: number }> = [];
  for (let t = 0; t < endMs; t += gapMs) {
    // Complete everything due by now, in time order, on the clock of its completion.
    pending.sort((x, y) => x.at - y.at);
    while (pending.length > 0 && pending[0].at <= t) {
      const done = pending.shift()!;
      clock.now = done.at;
      done.h.inFlight--;
      observeRtt(done.h, done.rtt, done.at, decayMs);
    }
    clock.now = t;
    const r = b.picker.pick();
    assert.equal(r.kind, 'complete');
    const h = r as TestHost;
    h.inFlight++;
    const rtt = latency(h, t);
    pending.push({ at: t + rtt, h, rtt });
    picks.push([t, h.endpoint.address]);
  }
  return {
    share(address, from, to) {
      const inWindow = picks.filter(([t]) => t >= from && t < to);
      return inWindow.filter(([, a]) => a === address).length / inWindow.length;
    },
  };
}

test('traffic moves off a host that becomes 10× slower within seconds, and back after it recovers', () => {
  const clock = { now: 0 };
  const b = balancer(clock, 2024);
  const hosts = ['a', 'b', 'c'].map((a) => host(a));
  b.updateEndpoints(hosts);
  const slowFrom = 20_000;
  const slowUntil = 50_000;
  const run = simulate(
    b, clock, hosts,
    (h, t) => (h.endpoint.address === 'c' && t >= slowFrom && t < slowUntil ? 100 : 10) + (t % 3),
    110_000, 2,
  );
  const before = run.share('c', 10_000, slowFrom);
  const soonAfter = run.share('c', slowFrom + 2_000, slowFrom + 5_000);
  const during = run.share('c', slowFrom + 2_000, slowUntil);
  const recovered = run.share('c', slowUntil + 20_000, 110_000);
  assert.ok(before > 0.25 && before < 0.42, `before: ${before}`);
  assert.ok(soonAfter < 0.05, `2-5 s after the slowdown: ${soonAfter}`);
  assert.ok(during < 0.05, `while slow: ${during}`);
  assert.ok(recovered > 0.28, `after recovery: ${recovered}`);
});

test('registered by name with its config', () => {
  setup();
  assert.equal(createLoadBalancer({ kind: 'peak-ewma', decayMs: 5000, defaultRttMs: 20 }).name, 'peak-ewma');
});
