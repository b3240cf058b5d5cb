// The scale simulation at a reduced size (npm run bench:scale runs it at full size): checks that
// every simulated sidecar ACKs every change with the right content and that debouncing never
// makes more pushes than changes. It asserts no timing: the figures are the benchmark's job.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultScaleOptions, parseScaleOptions } from '../../../bench/scale/scale-options.js';
import { runScale } from '../../../bench/scale/scale-run.js';
import { buildTopology, hotService } from '../../../bench/scale/scale-topology.js';

describe('bench:scale at a reduced size', () => {
  it('builds the topology it claims: every sidecar an endpoint of endpoints/sidecars services, calling the hot one', () => {
    const t = buildTopology({ sidecars: 100, services: 50, endpoints: 1000, egress: 10 });
    assert.equal(t.membership, 10);
    assert.equal(t.endpointCount, 1000);
    assert.equal(new Set(t.nodes.map((n) => `${n.address}:${n.inboundPort}`)).size, 100, 'distinct endpoints');
    for (const n of t.nodes) {
      assert.equal(n.egress?.length, 10);
      assert.ok(n.egress?.includes(hotService));
      assert.equal(Object.keys(n.labels).length, 10);
    }
    // each service selects its share: per label key, the groups partition the sidecars
    const members = new Map<string, number>();
    for (const n of t.nodes) for (const [k, v] of Object.entries(n.labels)) members.set(`${k}=${v}`, (members.get(`${k}=${v}`) ?? 0) + 1);
    assert.equal([...members.values()].reduce((a, b) => a + b, 0), 1000);
  });

  it('rejects bad options naming the flag', () => {
    assert.match((parseScaleOptions(['--sidecars', '0']) as Error).message, /--sidecars/);
    assert.match((parseScaleOptions(['--address', '127.0.0.1']) as Error).message, /--address/);
    assert.match((parseScaleOptions(['--debounce', '500', '--debounce-max', '100']) as Error).message, /--debounce-max/);
    assert.match((parseScaleOptions(['-o', 'yaml']) as Error).message, /-o/);
  });

  it('every sidecar ACKs every change with the right content, and a burst coalesces', { timeout: 180_000 }, async () => {
    const result = await runScale({
      ...defaultScaleOptions, sidecars: 100, services: 50, endpoints: 1000, egress: 10, processes: 2, repeats: 1, burst: 5,
      // a generous quiet period, so the burst coalesces even when the shared machine slows the applies down
      debounceMs: 600, debounceMaxMs: 3000, address: '127.0.81.253', timeoutMs: 60_000,
    });
    assert.equal(result.topology.endpoints, 1000);
    const kinds = result.phases.map((p) => p.kind);
    assert.deepEqual(kinds, ['initial', 'route', 'endpoint-add', 'endpoint-remove', 'burst']);
    for (const p of result.phases) {
      // runScale only returns once every sidecar held the change (the content is checked in each sidecar process)
      assert.ok(p.configsMin >= 1, `${p.kind}: every sidecar took a config (${p.configsMin})`);
      assert.ok(p.configsMax <= p.changes, `${p.kind}: no more pushes than changes (${p.configsMax} > ${p.changes})`);
      assert.ok(p.responses >= 100, `${p.kind}: ${p.responses} responses for 100 sidecars`);
    }
    const burst = result.phases.find((p) => p.kind === 'burst')!;
    assert.ok(burst.configsMax < burst.changes, `the burst of ${burst.changes} coalesced (${burst.configsMax} configs per sidecar at most)`);
    assert.ok(burst.passes < burst.changes, `the burst made ${burst.passes} passes for ${burst.changes} changes`);
    // a route change sends each sidecar the one route table, not its clusters or endpoints
    const route = result.phases.find((p) => p.kind === 'route')!;
    assert.equal(route.responses, 100, 'one RDS response per sidecar');
    assert.ok(result.controlRssPeakBytes > 0);
  });
});
