// Peak-EWMA over real sockets with the clock in the test's hands: when one of three instances
// turns 10× slower, the large majority of new requests move off it within a (injected) second,
// it stays off while its cost is high, and it gets its share back once the cost has decayed
// (10 s time constant) and it answers fast again. Shares only, never times: 500 ms against
// 50 ms is a margin a busy machine does not close, and where calm traffic is measured the clock
// moves in larger steps, so an RTT spike of a busy machine fades within the phase.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JumpingClock } from './resilience/jumping-clock.js';
import { instance, sidecar, type Instance, type Sidecar } from './clocked-mesh-support.js';

const host = (n: number): string => `127.0.92.${n}`;
const fastMs = 50;
const slowMs = 500;
const clients = 4;

/**
 * `rounds` rounds of `clients` concurrent requests; the clock jumps `stepMs` between rounds, when
 * nothing is in flight (a jump during a request would count in its RTT). Returns the share each
 * instance got.
 */
async function traffic(s: Sidecar, clock: JumpingClock, rounds: number, stepMs: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const replies = await Promise.all(Array.from({ length: clients }, () => s.call()));
    for (const r of replies) {
      assert.equal(r.status, 200, `${r.status} from ${r.from}`);
      counts.set(r.from, (counts.get(r.from) ?? 0) + 1);
    }
    clock.advance(stepMs);
  }
  const total = rounds * clients;
  return new Map([...counts].map(([k, v]) => [k, v / total]));
}

const share = (shares: Map<string, number>, name: string): number => shares.get(name) ?? 0;

test('peak-EWMA: traffic leaves an instance that turns 10× slower within a second, and returns once its cost decays', async () => {
  const clock = new JumpingClock();
  const instances: Instance[] = [];
  let s: Sidecar | undefined;
  try {
    for (const [i, name] of ['a', 'b', 'c'].entries()) instances.push(await instance(name, host(31 + i), { delayMs: fastMs, status: 200 }));
    s = await sidecar(host(30), instances, { lbPolicy: { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 } }, clock);
    const c = instances[2];

    const before = await traffic(s, clock, 30, 500);
    assert.ok(share(before, 'c') > 0.15, `c's share while all are equal: ${share(before, 'c')}`);

    c.behaviour.delayMs = slowMs;
    // the first injected second: c's first slow answers raise its cost to the new peak at once
    await traffic(s, clock, 10, 100);
    // the next two seconds: the large majority goes elsewhere
    const slow = await traffic(s, clock, 20, 100);
    assert.ok(share(slow, 'c') <= 0.1, `c's share while 10× slower: ${share(slow, 'c')}`);

    c.behaviour.delayMs = fastMs;
    // healthy again, but its cost is still near its 500 ms peak: it stays off for now
    const stillCostly = await traffic(s, clock, 10, 100);
    assert.ok(share(stillCostly, 'c') <= 0.1, `c's share just after it recovered: ${share(stillCostly, 'c')}`);
    // three time constants later the cost has decayed below the others': c is tried, answers fast, and is back
    clock.advance(30_000);
    const after = await traffic(s, clock, 30, 500);
    assert.ok(share(after, 'c') > 0.2, `c's share once its cost decayed: ${share(after, 'c')}`);
  } finally {
    await s?.close();
    await Promise.all(instances.map((u) => u.close()));
  }
});
