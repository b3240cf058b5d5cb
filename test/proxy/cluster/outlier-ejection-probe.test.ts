// Outlier detection over real sockets with the clock in the test's hands: an instance that
// always answers 500 is ejected after exactly 5 failures; when the ejection time has passed one
// probe request decides. A failing probe ejects it again at once, for twice as long; a
// succeeding one readmits it to its full share. Round-robin makes the counts exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointView } from '../../../src/proxy/cluster/cluster-manager.js';
import { JumpingClock } from './resilience/jumping-clock.js';
import { instance, sidecar, type Instance, type Sidecar } from './clocked-mesh-support.js';

const host = (n: number): string => `127.0.92.${n}`;

/** `n` requests one after the other; how many each instance answered, and the statuses. */
async function send(s: Sidecar, instances: Instance[], n: number): Promise<{ hits: Record<string, number>; statuses: Record<number, number> }> {
  const start = new Map(instances.map((u) => [u.name, u.hits]));
  const statuses: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await s.call();
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  return { hits: Object.fromEntries(instances.map((u) => [u.name, u.hits - start.get(u.name)!])), statuses };
}

function view(s: Sidecar, u: Instance): EndpointView {
  return s.rt.clusters.describeEndpoints().find((e) => e.port === u.port && e.address === u.address)!;
}

/** Seconds from now until the endpoint's ejection ends. */
function ejectedForS(v: EndpointView): number {
  assert.equal(v.state, 'ejected');
  assert.ok(v.ejectedUntil !== null);
  return (Date.parse(v.ejectedUntil) - Date.now()) / 1000;
}

test('an always-500 instance is ejected after 5 failures; a failing probe keeps it out, a succeeding one readmits it', async () => {
  const clock = new JumpingClock();
  const instances: Instance[] = [];
  let s: Sidecar | undefined;
  try {
    for (const [i, name] of ['a', 'b', 'c'].entries()) instances.push(await instance(name, host(41 + i), { delayMs: 0, status: 200 }));
    const bad = instances[2];
    bad.behaviour.status = 500;
    s = await sidecar(host(40), instances, {
      lbPolicy: { kind: 'round-robin' },
      outlierDetection: { consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
    }, clock);

    const first = await send(s, instances, 30);
    assert.equal(first.hits.c, 5, 'exactly the 5 failures that eject it');
    assert.deepEqual(first.statuses, { 200: 25, 500: 5 });
    const firstEjection = ejectedForS(view(s, bad));
    assert.ok(firstEjection > 29 && firstEjection <= 33.1, `ejected for ${firstEjection} s (30 s + up to 10% jitter)`);

    clock.advance(29_000);
    assert.equal((await send(s, instances, 12)).hits.c, 0, 'still ejected before its time is up');

    // the time is up (jitter included): the next pick of it is its single probe, which fails
    clock.advance(5_000);
    const probed = await send(s, instances, 12);
    assert.equal(probed.hits.c, 1, 'one probe');
    assert.equal(probed.statuses[500], 1);
    const second = ejectedForS(view(s, bad));
    assert.ok(second > 59 && second <= 66.1, `ejected again for ${second} s (2 × 30 s + jitter)`);
    assert.equal((await send(s, instances, 12)).hits.c, 0, 'stays ejected after the failed probe');

    bad.behaviour.status = 200;
    clock.advance(59_000);
    assert.equal((await send(s, instances, 12)).hits.c, 0, 'healthy now, but its ejection runs');
    clock.advance(8_000);
    const readmitted = await send(s, instances, 30);
    assert.deepEqual(readmitted.statuses, { 200: 30 });
    assert.ok(readmitted.hits.c >= 9, `readmitted after its probe succeeded: ${readmitted.hits.c} of 30`);
    const v = view(s, bad);
    assert.equal(v.state, 'healthy');
    assert.equal(v.ejectedUntil, null);
  } finally {
    await s?.close();
    await Promise.all(instances.map((u) => u.close()));
  }
});
