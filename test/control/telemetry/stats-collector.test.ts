import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../../src/control/registry.js';
import { StatsCollector } from '../../../src/control/telemetry/stats-collector.js';
import { StatsHistory } from '../../../src/control/telemetry/stats-history.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { createLogger } from '../../../src/common/log.js';
import { ManualClock, nodeInfo } from '../helpers.js';

const logger = createLogger('test', 'silent');

/** A mesh of fake sidecars: each proxy id has real ProxyMetrics whose text the collector scrapes. */
function setup(retentionMs?: number) {
  const clock = new ManualClock();
  const registry = new Registry({ clock });
  const metrics = new Map<string, ProxyMetrics>();
  const extra = new Map<string, string>();
  const failing = new Set<string>();
  const collector = new StatsCollector({
    registry, logger, clock, history: new StatsHistory({ retentionMs }),
    fetchMetrics: async (inst) => {
      if (failing.has(inst.proxyId)) return new Error('connect ECONNREFUSED');
      const m = metrics.get(inst.proxyId);
      return m ? (await m.text()) + (extra.get(inst.proxyId) ?? '') : new Error('no such proxy');
    },
  });
  const add = (service: string, host: number) => {
    const node = nodeInfo({ service, address: `127.0.12.${host}`, id: `${service}-${host}` });
    registry.connect(node);
    const m = new ProxyMetrics({ processMetrics: false });
    metrics.set(node.id, m);
    return m;
  };
  return { clock, registry, metrics, extra, failing, collector, add };
}

const times = (n: number, fn: () => void) => { for (let i = 0; i < n; i++) fn(); };

test('service, route and edge rows from synthetic scrapes: rps, success rate, quantiles', async () => {
  const { clock, collector, add } = setup();
  const web = add('web', 10);
  const api1 = add('api', 11);
  const api2 = add('api', 12);
  // counted before the control plane first saw them: a baseline, not traffic of the window
  times(1000, () => api1.routeStatsFor('inbound', '', 'inbound|local').record(200, null, 0.5));
  await collector.scrapeOnce();
  assert.deepEqual(collector.history.query(60_000), []);

  clock.advance(5000);
  const out = web.routeStatsFor('outbound', 'api.default', 'api.default');
  times(90, () => out.record(200, null, 0.004));
  times(10, () => out.record(503, null, 0.004));
  const in1 = api1.routeStatsFor('inbound', '', 'inbound|local');
  const in2 = api2.routeStatsFor('inbound', '', 'inbound|local');
  times(50, () => in1.record(200, null, 0.02));
  times(40, () => in2.record(200, null, 0.02));
  times(10, () => in2.record(500, null, 0.02));
  await collector.scrapeOnce();

  const rows = collector.history.query(60_000);
  const svc = rows.find((r) => r.kind === 'service' && r.service === 'api');
  assert.ok(svc, JSON.stringify(rows));
  assert.equal(svc.requests, 100);
  assert.equal(svc.route, null);
  assert.equal(svc.rps, 20); // 100 requests over the 5 s covered so far
  assert.equal(svc.successRate, 0.9);
  // every observation in (15 ms, 20 ms]: p50 interpolates to the middle, p99 near the top
  assert.equal(svc.p50Ms, 17.5);
  assert.equal(svc.p95Ms, 19.75);
  assert.equal(svc.p99Ms, 19.95);
  assert.equal(svc.window, '1m');

  const edge = rows.find((r) => r.kind === 'edge');
  assert.deepEqual({ ...edge, p50Ms: undefined, p95Ms: undefined, p99Ms: undefined }, {
    kind: 'edge', service: 'api', route: null, from: 'web', to: 'api', requests: 100, rps: 20, successRate: 0.9,
    p50Ms: undefined, p95Ms: undefined, p99Ms: undefined, window: '1m',
  });
  assert.equal(edge?.p50Ms, 4); // (3 ms, 5 ms] bucket
  const route = rows.find((r) => r.kind === 'route');
  assert.equal(route?.service, 'api');
  assert.equal(route?.route, 'api.default');
  assert.equal(route?.requests, 100);
  assert.equal(rows.length, 3, 'no row for web: it served nothing');

  // filtering by service keeps the rows that involve it
  assert.deepEqual(collector.history.query(60_000, 'web').map((r) => r.kind), ['edge']);
  assert.deepEqual(collector.history.query(60_000, 'nope'), []);
});

test('rates are over the window once history covers it; old traffic leaves the window', async () => {
  const { clock, collector, add } = setup();
  const api = add('api', 20);
  const s = api.routeStatsFor('inbound', '', 'inbound|local');
  await collector.scrapeOnce();
  for (let i = 0; i < 24; i++) {
    clock.advance(5000);
    times(10, () => s.record(200, null, 0.001));
    await collector.scrapeOnce();
  }
  // 120 s of 2 rps; a 1 m window sees 12 rounds of 10
  const [row] = collector.history.query(60_000);
  assert.equal(row.requests, 120);
  assert.equal(row.rps, 2);
  assert.equal(collector.history.query(10_000)[0].requests, 20);
  clock.advance(61_000);
  await collector.scrapeOnce();
  assert.deepEqual(collector.history.query(60_000), []);
  assert.equal(collector.history.query(120_000)[0].requests, 120);
});

test('a restarted sidecar (counters reset) counts its new values, never a negative delta', async () => {
  const { clock, collector, add, metrics } = setup();
  const old = add('api', 30);
  times(50, () => old.routeStatsFor('inbound', '', 'inbound|local').record(200, null, 0.01));
  await collector.scrapeOnce();
  const fresh = new ProxyMetrics({ processMetrics: false });
  times(5, () => fresh.routeStatsFor('inbound', '', 'inbound|local').record(500, null, 0.01));
  metrics.set('api-30', fresh);
  clock.advance(5000);
  await collector.scrapeOnce();
  const [row] = collector.history.query(60_000);
  assert.equal(row.requests, 5);
  assert.equal(row.successRate, 0);
});

test('a sidecar whose process started after the collector counts everything from its first scrape', async () => {
  const { clock, collector, add, extra } = setup();
  await collector.scrapeOnce();
  clock.advance(5000);
  const m = add('api', 40);
  extra.set('api-40', `trellis_proxy_process_start_time_seconds ${clock.now() / 1000}\n`);
  times(7, () => m.routeStatsFor('inbound', '', 'inbound|local').record(200, null, 0.01));
  await collector.scrapeOnce();
  assert.equal(collector.history.query(60_000)[0].requests, 7);
});

test('proxy errors count as failures; a failed scrape is reported and skipped', async () => {
  const { clock, collector, add, failing } = setup();
  const web = add('web', 50);
  add('api', 51);
  await collector.scrapeOnce();
  clock.advance(5000);
  const s = web.routeStatsFor('outbound', 'api.default', 'api.default');
  times(3, () => s.record(200, null, 0.01));
  // an error the proxy made itself, under a status below 500, still fails
  s.record(404, { name: 'no-route', status: 404 } as never, 0.001);
  failing.add('api-51');
  await collector.scrapeOnce();
  const edge = collector.history.query(60_000).find((r) => r.kind === 'edge');
  assert.equal(edge?.successRate, 0.75);
  assert.equal(collector.lastErrors.get('api-51'), 'connect ECONNREFUSED');
});

test('history is bounded by retention and serves a time series per service', async () => {
  const { clock, collector, add } = setup(30_000);
  const api = add('api', 60);
  const s = api.routeStatsFor('inbound', '', 'inbound|local');
  await collector.scrapeOnce();
  for (let i = 0; i < 20; i++) {
    clock.advance(5000);
    times(i + 1, () => s.record(200, null, 0.002));
    await collector.scrapeOnce();
  }
  assert.ok(collector.history.tickCount <= 7, `ticks ${collector.history.tickCount}`);
  const points = collector.history.series('api', 30_000, 10_000);
  assert.equal(points.length, 3);
  // the last two rounds (19 and 20 requests) in the last 10 s step
  assert.equal(points[2].requests, 39);
  assert.equal(points[2].rps, 3.9);
  assert.equal(points[1].requests, 35);
  assert.deepEqual(collector.history.series('other', 30_000, 10_000).map((p) => p.requests), [0, 0, 0]);
});

test("an edge's time series holds what the caller sent that callee only; latestAt is the last round", async () => {
  const { clock, collector, add } = setup();
  const web = add('web', 80);
  const admin = add('admin', 81);
  add('api', 82);
  await collector.scrapeOnce();
  const toApi = web.routeStatsFor('outbound', 'api.default', 'api.default');
  for (let i = 0; i < 3; i++) {
    clock.advance(10_000);
    times(10 * (i + 1), () => toApi.record(200, null, 0.004));
    toApi.record(503, null, 0.004);
    times(5, () => web.routeStatsFor('outbound', 'db.default', 'db.default').record(200, null, 0.001));
    // another caller of api: not web's edge
    times(7, () => admin.routeStatsFor('outbound', 'api.default', 'api.default').record(200, null, 0.002));
    // what api served (inbound) is the service's series, not the edge's
    times(4, () => web.routeStatsFor('inbound', '', 'inbound|local').record(200, null, 0.002));
    await collector.scrapeOnce();
  }
  assert.equal(collector.history.latestAt, clock.now());
  const points = collector.history.edgeSeries('web', 'api', 30_000, 10_000);
  assert.deepEqual(points.map((p) => p.requests), [11, 21, 31]);
  assert.deepEqual(points.map((p) => p.rps), [1.1, 2.1, 3.1]);
  assert.equal(points[2].successRate, Math.round((30 / 31) * 10_000) / 10_000);
  assert.ok(points[2].p99Ms !== null && points[2].p99Ms > 0);
  assert.deepEqual(collector.history.edgeSeries('admin', 'api', 30_000, 10_000).map((p) => p.requests), [7, 7, 7]);
  assert.deepEqual(collector.history.edgeSeries('api', 'web', 30_000, 10_000).map((p) => p.requests), [0, 0, 0]);
});

test('start() scrapes on its interval until closed', async () => {
  const { clock, collector, add } = setup();
  add('api', 70);
  collector.start();
  clock.advance(0);
  await new Promise((r) => setImmediate(r));
  await collector.scrapeOnce();
  const before = collector.history.tickCount;
  clock.advance(5000);
  await collector.scrapeOnce();
  assert.ok(collector.history.tickCount >= before + 1);
  await collector.close();
  const after = collector.history.tickCount;
  clock.advance(60_000);
  assert.equal(collector.history.tickCount, after);
});
