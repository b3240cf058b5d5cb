// Golden metrics end to end: real sidecars in front of a backend with a fixed delay and one that
// fails every tenth request; `trellis stat` must show figures matching that load, and a stock
// Prometheus, configured by `trellis prometheus-config`, must count the requests the test sent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';
import { parsePromText } from '../../src/control/telemetry/prom-text-parser.js';

const net = '127.0.60';
const promAddress = `${net}.2:9090`;
const sent = 200;
const delayMs = 20;

// the control plane scrapes every second here so the test waits less (default 5 s)
process.env.TRELLIS_STATS_INTERVAL_MS = '1000';

let mesh: Mesh;
let web: Pod;

interface StatRow { kind: string; service: string; route: string | null; from?: string; to?: string; requests: number; rps: number; successRate: number | null; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null; window: string }

async function customPod(id: string, service: string, host: number, handler: http.RequestListener): Promise<Pod> {
  const address = `${net}.${host}`;
  const app = http.createServer(handler);
  await new Promise<void>((resolve, reject) => app.once('error', reject).listen(8000, address, resolve));
  const pod: Pod = { id, service, address, labels: {}, app };
  mesh.pods.set(id, pod);
  await mesh.startSidecar(pod);
  return pod;
}

/** Sends `n` requests, `concurrency` at a time; returns the statuses. */
async function load(from: Pod, host: string, n: number, concurrency = 4): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      statuses.push((await mesh.request(from, host, '/')).status);
    }
  }));
  return statuses;
}

async function stat(args: string[] = []): Promise<StatRow[]> {
  const r = await mesh.cli(['stat', ...args, '--window', '10m', '-o', 'json']);
  if (r.code !== 0) throw new Error(`trellis stat failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as StatRow[];
}

before(async () => {
  mesh = new Mesh(net);
  await mesh.startControl();
  web = await mesh.addPod('web-1', 'web');
  await customPod('slow-1', 'slow', 200, (req, res) => {
    req.resume();
    setTimeout(() => res.end('slow'), delayMs);
  });
  let n = 0;
  await customPod('flaky-1', 'flaky', 201, (req, res) => {
    req.resume();
    // exactly one request in ten fails
    res.statusCode = ++n % 10 === 0 ? 500 : 200;
    res.end('flaky');
  });
  await mesh.waitInSync(20_000, 3);
  const slow = await load(web, 'slow', sent);
  const flaky = await load(web, 'flaky', sent);
  assert.equal(slow.filter((s) => s === 200).length, sent);
  assert.equal(flaky.filter((s) => s === 500).length, sent / 10);
});

after(async () => {
  await mesh?.close();
});

test('trellis stat matches a known load: fixed delay gives p50/p99, 10% failures give a 0.9 success rate', async () => {
  // every request counted once the collector has scraped after the load (bounded wait)
  const rows = await waitFor(async () => {
    const r = await stat();
    const done = ['slow', 'flaky'].every((s) => r.find((x) => x.kind === 'service' && x.service === s)?.requests === sent);
    return done ? r : undefined;
  }, 30_000, `stat rows counting ${sent} requests for slow and flaky`);

  const slow = rows.find((r) => r.kind === 'service' && r.service === 'slow')!;
  assert.equal(slow.route, null);
  assert.equal(slow.successRate, 1);
  assert.ok(slow.rps > 0);
  assert.equal(slow.window, '10m');
  // Tolerance: never under the delay; above it, the histogram's resolution (a 20 ms delay lands
  // in the (20 ms, 30 ms] bucket) plus what a loaded 2-core CI machine adds to half the requests
  // (seen: 33 ms with every test file running at once), so up to the (50 ms, 75 ms] bucket.
  assert.ok(slow.p50Ms !== null && slow.p50Ms >= delayMs && slow.p50Ms <= 75, `p50 ${slow.p50Ms}`);
  assert.ok(slow.p99Ms !== null && slow.p99Ms >= delayMs && slow.p99Ms <= 200, `p99 ${slow.p99Ms}`);
  assert.ok(slow.p95Ms! >= slow.p50Ms! && slow.p99Ms >= slow.p95Ms!);

  const flaky = rows.find((r) => r.kind === 'service' && r.service === 'flaky')!;
  // Tolerance ±0.01: every request is counted, so this is exact unless a request were lost.
  assert.ok(Math.abs(flaky.successRate! - 0.9) <= 0.01, `success rate ${flaky.successRate}`);

  const edge = rows.find((r) => r.kind === 'edge' && r.from === 'web' && r.to === 'flaky');
  assert.equal(edge?.requests, sent);
  assert.ok(Math.abs(edge.successRate! - 0.9) <= 0.01);
  const slowEdge = rows.find((r) => r.kind === 'edge' && r.from === 'web' && r.to === 'slow');
  // the caller's view includes the hop through both sidecars, so it cannot be faster
  assert.ok(slowEdge && slowEdge.p50Ms! >= delayMs, `edge p50 ${slowEdge?.p50Ms}`);
  const route = rows.find((r) => r.kind === 'route' && r.service === 'slow');
  assert.equal(route?.route, 'slow.default');

  // a SERVICE argument narrows the rows; the table shows edges
  const only = await stat(['flaky']);
  assert.ok(only.every((r) => r.service === 'flaky' || r.from === 'flaky' || r.to === 'flaky'));
  assert.ok(!only.some((r) => r.to === 'slow'));
  const table = await mesh.cli(['stat', '--window', '10m']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /SERVICE\s+ROUTE\s+RPS\s+SUCCESS\s+P50\s+P95\s+P99/);
  assert.match(table.stdout, /web -> flaky\s+\(edge\)\s+\S+\s+90\.00%/);

  const history = await fetch(`${mesh.apiUrl}/api/v1/stats/history?service=flaky&window=5m&step=10s`).then((r) => r.json()) as { points: { requests: number }[] };
  assert.equal(history.points.reduce((a, p) => a + p.requests, 0), sent);
});

const prometheusBin = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();

test('a stock Prometheus with the generated config scrapes every sidecar and counts the requests sent', {
  skip: prometheusBin ? false : 'the prometheus binary is not installed (Debian package `prometheus`; .ci/run installs it)',
}, async () => {
  const dir = path.join(mesh.dir, 'prometheus-server');
  mkdirSync(dir, { recursive: true });
  const cfg = await mesh.cli(['prometheus-config', '--scrape-interval', '1s']);
  assert.equal(cfg.code, 0, cfg.stderr);
  assert.match(cfg.stdout, /file_sd_configs/);
  const targets = await fetch(`${mesh.apiUrl}/api/v1/prometheus/targets`).then((r) => r.json()) as { file: string; targets: { labels: Record<string, string> }[] };
  assert.ok(cfg.stdout.includes(targets.file));
  assert.deepEqual(targets.targets.map((t) => t.labels.service).sort(), ['flaky', 'slow', 'web']);
  writeFileSync(path.join(dir, 'prometheus.yml'), cfg.stdout);

  const prom: ChildProcess = spawn(prometheusBin, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--web.listen-address=${promAddress}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  prom.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => prom.once('exit', () => resolve()));
  try {
    await waitFor(async () => prom.exitCode === null && (await fetch(`http://${promAddress}/-/ready`)).ok, 30_000, 'Prometheus to be ready')
      .catch((err) => { throw new Error(`${(err as Error).message}; prometheus stderr: ${stderr}`); });
    const query = async (q: string): Promise<number | undefined> => {
      const res = await fetch(`http://${promAddress}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      const v = body.data?.result?.[0]?.value[1];
      return v === undefined ? undefined : Number(v);
    };
    // each target is scraped on its own schedule: wait until all three have been
    const slow = `sum(trellis_requests_total{job="trellis-sidecars",service="slow",direction="inbound"})`;
    const failed = `sum(trellis_requests_total{service="flaky",direction="inbound",status_code=~"5.."})`;
    const up = 'count(up{job="trellis-sidecars"} == 1)';
    const seen = { slow: undefined as number | undefined, failed: undefined as number | undefined, up: undefined as number | undefined };
    await waitFor(async () => {
      [seen.slow, seen.failed, seen.up] = [await query(slow), await query(failed), await query(up)];
      return seen.up === 3 && seen.slow === sent && seen.failed === sent / 10;
    }, 30_000, `PromQL ${slow} = ${sent}, ${failed} = ${sent / 10} and 3 targets up`)
      .catch((err) => { throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(seen)}`); });
  } finally {
    prom.kill('SIGTERM');
    const killer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
});

const promtoolBin = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();

test('every sidecar\'s /metrics, with traffic flowing, passes promtool check metrics and reads back in the control plane\'s parser', {
  skip: promtoolBin ? false : 'promtool is not installed (Debian package `prometheus`)',
}, async () => {
  // after the tests above, which count exactly `sent` requests: traffic flowing while the sidecars are scraped: histograms, connections and bytes move
  const flowing = load(web, 'slow', 40, 2);
  try {
    for (const pod of mesh.pods.values()) {
      const res = await fetch(`http://${pod.address}:15000/metrics`);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      const check = spawnSync(promtoolBin, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
      // Exit 1 is a format error; exit 3 is lint advice, allowed only for the gauges named `_total` that
      // the sidecar inherited from prom-client's default process metrics (their names are kept as they were).
      const advice = `${check.stdout}${check.stderr}`.split('\n').filter((l) => l.trim() !== '');
      const inherited = advice.filter((l) => /^trellis_proxy_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(l));
      assert.ok(check.status === 0 || (check.status === 3 && inherited.length === advice.length),
        `promtool on ${pod.id}'s /metrics, exit ${check.status}: ${advice.join('; ')}`);
      const parsed = parsePromText(text);
      assert.ok(parsed.ok, parsed.ok ? '' : `${pod.id}: ${parsed.error}`);
      const families = new Set(parsed.samples.map((x) => x.name));
      for (const name of ['trellis_requests_total', 'trellis_request_duration_seconds_bucket', 'trellis_xds_connected',
        'trellis_downstream_connections_total', 'trellis_proxy_process_start_time_seconds', 'trellis_proxy_process_resident_memory_bytes']) {
        assert.ok(families.has(name), `${pod.id} exposes ${name}`);
      }
      assert.equal(parsed.types.get('trellis_request_duration_seconds'), 'histogram');
    }
  } finally {
    await flowing;
  }
  // what the sidecar of slow counted is what was sent (the earlier load, plus this one)
  const text = await fetch(`http://${net}.200:15000/metrics`).then((r) => r.text());
  const parsed = parsePromText(text);
  assert.ok(parsed.ok);
  const inbound = parsed.samples.filter((x) => x.name === 'trellis_requests_total' && x.labels.direction === 'inbound');
  assert.equal(inbound.reduce((a, x) => a + x.value, 0), sent + 40);
  const count = parsed.samples.filter((x) => x.name === 'trellis_request_duration_seconds_count' && x.labels.direction === 'inbound');
  const inf = parsed.samples.filter((x) => x.name === 'trellis_request_duration_seconds_bucket' && x.labels.direction === 'inbound' && x.labels.le === '+Inf');
  assert.equal(count.reduce((a, x) => a + x.value, 0), sent + 40);
  assert.equal(inf.reduce((a, x) => a + x.value, 0), sent + 40);
});
