// The sidecar's process metrics: the families it exposed with prom-client's defaults (same names,
// types, help and labels, so dashboards and the control plane keep reading them), with values
// checked against what the process itself reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { registerProcessMetrics } from '../../../src/proxy/telemetry/process-metrics.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { parsePromText, type PromSample } from '../../../src/control/telemetry/prom-text-parser.js';

/** name (without the prefix), type, label names, help: prom-client 15.1's default metrics on Linux. */
const expected: Array<[string, string, string[], string]> = [
  ['process_cpu_user_seconds_total', 'counter', [], 'Total user CPU time spent in seconds.'],
  ['process_cpu_system_seconds_total', 'counter', [], 'Total system CPU time spent in seconds.'],
  ['process_cpu_seconds_total', 'counter', [], 'Total user and system CPU time spent in seconds.'],
  ['process_start_time_seconds', 'gauge', [], 'Start time of the process since unix epoch in seconds.'],
  ['process_resident_memory_bytes', 'gauge', [], 'Resident memory size in bytes.'],
  ['process_virtual_memory_bytes', 'gauge', [], 'Virtual memory size in bytes.'],
  ['process_heap_bytes', 'gauge', [], 'Process heap size in bytes.'],
  ['process_open_fds', 'gauge', [], 'Number of open file descriptors.'],
  ['process_max_fds', 'gauge', [], 'Maximum number of open file descriptors.'],
  ['nodejs_eventloop_lag_seconds', 'gauge', [], 'Lag of event loop in seconds.'],
  ['nodejs_eventloop_lag_min_seconds', 'gauge', [], 'The minimum recorded event loop delay.'],
  ['nodejs_eventloop_lag_max_seconds', 'gauge', [], 'The maximum recorded event loop delay.'],
  ['nodejs_eventloop_lag_mean_seconds', 'gauge', [], 'The mean of the recorded event loop delays.'],
  ['nodejs_eventloop_lag_stddev_seconds', 'gauge', [], 'The standard deviation of the recorded event loop delays.'],
  ['nodejs_eventloop_lag_p50_seconds', 'gauge', [], 'The 50th percentile of the recorded event loop delays.'],
  ['nodejs_eventloop_lag_p90_seconds', 'gauge', [], 'The 90th percentile of the recorded event loop delays.'],
  ['nodejs_eventloop_lag_p99_seconds', 'gauge', [], 'The 99th percentile of the recorded event loop delays.'],
  ['nodejs_active_resources', 'gauge', ['type'], 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.'],
  ['nodejs_active_resources_total', 'gauge', [], 'Total number of active resources.'],
  ['nodejs_active_handles', 'gauge', ['type'], 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.'],
  ['nodejs_active_handles_total', 'gauge', [], 'Total number of active handles.'],
  ['nodejs_active_requests', 'gauge', ['type'], 'Number of active libuv requests grouped by request type. Every request type is C++ class name.'],
  ['nodejs_active_requests_total', 'gauge', [], 'Total number of active requests.'],
  ['nodejs_heap_size_total_bytes', 'gauge', [], 'Process heap size from Node.js in bytes.'],
  ['nodejs_heap_size_used_bytes', 'gauge', [], 'Process heap size used from Node.js in bytes.'],
  ['nodejs_external_memory_bytes', 'gauge', [], 'Node.js external memory size in bytes.'],
  ['nodejs_heap_space_size_total_bytes', 'gauge', ['space'], 'Process heap space size total from Node.js in bytes.'],
  ['nodejs_heap_space_size_used_bytes', 'gauge', ['space'], 'Process heap space size used from Node.js in bytes.'],
  ['nodejs_heap_space_size_available_bytes', 'gauge', ['space'], 'Process heap space size available from Node.js in bytes.'],
  ['nodejs_version_info', 'gauge', ['version', 'major', 'minor', 'patch'], 'Node.js version info.'],
  ['nodejs_gc_duration_seconds', 'histogram', ['kind'], 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.'],
];

const prefix = 'trellis_proxy_';

function scrape(r: MetricRegistry): PromSample[] {
  const parsed = parsePromText(r.metrics());
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return parsed.samples;
}

function one(samples: PromSample[], name: string): number {
  const found = samples.filter((s) => s.name === prefix + name);
  assert.equal(found.length, 1, `one sample of ${name}`);
  return found[0].value;
}

test('the families keep the names, types, help texts and labels the sidecar exposed with prom-client', (t) => {
  const r = new MetricRegistry();
  const stop = registerProcessMetrics(r, prefix);
  t.after(stop);
  const text = r.metrics();
  const help = [...text.matchAll(/^# HELP (\S+) (.*)$/gm)].map((m) => [m[1], m[2]]);
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(help, expected.map(([n, , , h]) => [prefix + n, h]));
  assert.deepEqual(types, expected.map(([n, ty]) => [prefix + n, ty]));
  for (const s of scrape(r)) {
    const base = s.name.replace(/_(bucket|sum|count)$/, '');
    const family = expected.find(([n]) => prefix + n === s.name) ?? expected.find(([n, ty]) => ty === 'histogram' && prefix + n === base);
    assert.ok(family, `sample ${s.name} belongs to a family`);
    const labels = Object.keys(s.labels).filter((l) => l !== 'le');
    assert.deepEqual(labels, family[2], `labels of ${s.name}`);
  }
});

test('the values are the process\'s own', async (t) => {
  const r = new MetricRegistry();
  const stop = registerProcessMetrics(r, prefix);
  t.after(stop);
  let samples = scrape(r);
  const vmRssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  const rss = one(samples, 'process_resident_memory_bytes');
  assert.ok(Math.abs(rss - vmRssKb * 1024) < 16 * 2 ** 20, `RSS ${rss} near VmRSS ${vmRssKb} kB`);
  assert.ok(one(samples, 'process_virtual_memory_bytes') > rss);
  assert.ok(one(samples, 'process_heap_bytes') > 0);
  assert.equal(one(samples, 'process_start_time_seconds'), performance.timeOrigin / 1000);
  assert.ok(Math.abs(one(samples, 'process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 1);
  const cpu = process.cpuUsage();
  const total = one(samples, 'process_cpu_seconds_total');
  assert.ok(total > 0 && total <= (cpu.user + cpu.system) / 1e6, `cpu ${total}`);
  assert.ok(Math.abs(total - one(samples, 'process_cpu_user_seconds_total') - one(samples, 'process_cpu_system_seconds_total')) < 0.05);
  assert.ok(one(samples, 'process_open_fds') >= 3);
  assert.equal(one(samples, 'process_max_fds'), Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]));
  assert.ok(one(samples, 'nodejs_heap_size_used_bytes') <= one(samples, 'nodejs_heap_size_total_bytes'));
  const spaces = samples.filter((s) => s.name === `${prefix}nodejs_heap_space_size_used_bytes`).map((s) => s.labels.space);
  assert.ok(spaces.includes('new') && spaces.includes('old'), `heap spaces ${spaces.join(',')}`);
  const [major, minor, patch] = process.versions.node.split('.');
  assert.deepEqual(samples.find((s) => s.name === `${prefix}nodejs_version_info`), {
    name: `${prefix}nodejs_version_info`, labels: { version: process.version, major, minor, patch }, value: 1,
  });
  // A timer keeps a handle and a resource alive: both are counted by type.
  const timer = setInterval(() => undefined, 60_000);
  t.after(() => clearInterval(timer));
  samples = scrape(r);
  assert.ok(one(samples, 'nodejs_active_resources_total') >= 1);
  assert.ok(samples.some((s) => s.name === `${prefix}nodejs_active_resources` && s.labels.type === 'Timeout' && s.value >= 1));

  // Node samples the loop's delay every 10 ms; each scrape summarizes the samples since the last one.
  // (Its sampler may take a few turns of a busy loop to start: poll, bounded.)
  const stat = (s: string) => one(samples, `nodejs_eventloop_lag_${s}_seconds`);
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    samples = scrape(r);
    if (stat('max') > 0) break;
  }
  assert.ok(stat('max') > 0, 'delays sampled since the previous scrape');
  assert.ok(stat('min') <= stat('p50') && stat('p50') <= stat('p90') && stat('p90') <= stat('p99') && stat('p99') <= stat('max'));
  assert.ok(stat('min') <= stat('mean') && stat('mean') <= stat('max') && stat('stddev') >= 0);
  samples = scrape(r);
  assert.equal(stat('max'), 0, 'reset by the previous scrape, with no turn of the loop since');
  // nodejs_eventloop_lag_seconds: how late a setImmediate scheduled at the previous scrape ran.
  const until = Date.now() + 60;
  while (Date.now() < until) { /* busy on purpose: the loop is blocked for 60 ms */ }
  await new Promise((resolve) => setTimeout(resolve, 10));
  samples = scrape(r);
  assert.ok(one(samples, 'nodejs_eventloop_lag_seconds') >= 0.055, `lag ${one(samples, 'nodejs_eventloop_lag_seconds')}`);

  // Garbage makes minor collections; each is observed in its kind's histogram.
  let keep: unknown[] = [];
  const gcCount = () => scrape(r).find((s) => s.name === `${prefix}nodejs_gc_duration_seconds_count` && s.labels.kind === 'minor')?.value ?? 0;
  const deadline = Date.now() + 10_000;
  while (gcCount() === 0 && Date.now() < deadline) {
    for (let i = 0; i < 100_000; i++) keep.push({ i });
    keep = [];
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(gcCount() > 0, 'minor collections observed');
});

test('a proxy\'s registry carries them under trellis_proxy_, or not at all when asked', (t) => {
  const m = new ProxyMetrics();
  t.after(() => m.close());
  assert.match(m.text(), /^trellis_proxy_process_start_time_seconds \d+(\.\d+)?$/m);
  const bare = new ProxyMetrics({ processMetrics: false });
  assert.doesNotMatch(bare.text(), /trellis_proxy_/);
});
