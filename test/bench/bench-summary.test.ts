import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RepeatResult } from '../../bench/bench-measure.js';
import { median } from '../../bench/bench-stats.js';
import { summarize, type TargetOutcome } from '../../bench/bench-summary.js';
import type { WrkResult } from '../../bench/bench-wrk-output.js';

function wrk(requests: number, p50Ms: number | null = null, errors = 0): WrkResult {
  return { requests, seconds: 10, requestsPerSecond: requests / 10, p50Ms, p99Ms: p50Ms === null ? null : p50Ms * 4, errors, errorKinds: errors > 0 ? `timeout ${errors}` : '' };
}

function rep(repeat: number, requests: number, cpuSeconds: number | null, p50Ms: number, rssPeakBytes: number | null): RepeatResult {
  return { repeat, throughput: wrk(requests), latency: wrk(1000, p50Ms), cpuSeconds, rssPeakBytes, pids: [] };
}

function outcome(target: TargetOutcome['target'], hops: number, repeats: RepeatResult[]): TargetOutcome {
  return { target, hops, note: null, skipped: null, rssIdleBytes: hops === 0 ? null : 8 * 1024 * 1024, repeats, failures: [] };
}

test('median of odd and even counts ignores nulls', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, null, 1, 3, 2]), 2.5);
  assert.equal(median([null]), null);
});

test('rows hold medians, CPU per request, the ratio to nginx and the added p50 per hop', () => {
  const rows = summarize([
    outcome('direct', 0, [rep(1, 500_000, null, 0.1, null), rep(2, 520_000, null, 0.12, null), rep(3, 510_000, null, 0.11, null)]),
    outcome('nginx', 1, [rep(1, 300_000, 9, 0.2, 9 << 20), rep(2, 300_000, 10, 0.21, 10 << 20), rep(3, 300_000, 11, 0.22, 11 << 20)]),
    outcome('trellis-mesh', 2, [rep(1, 100_000, 10, 0.51, 100 << 20), rep(2, 100_000, 8, 0.5, 90 << 20), rep(3, 100_000, 12, 0.52, 80 << 20)]),
    { target: 'haproxy', hops: 0, note: null, skipped: 'haproxy missing', rssIdleBytes: null, repeats: [], failures: [] },
  ]);
  const [direct, nginx, mesh, haproxy] = rows;
  assert.equal(direct.requestsPerSecond, 51_000);
  assert.equal(direct.requestsPerCpuSecond, null);
  assert.equal(direct.addedP50PerHopMs, null);
  assert.equal(nginx.requestsPerCpuSecond, 30_000);
  assert.equal(nginx.cpuUsPerRequest, 100 / 3);
  assert.equal(nginx.ratioToNginx, 1);
  assert.equal(nginx.rssLoadMb, 10);
  assert.ok(Math.abs((nginx.addedP50PerHopMs ?? 0) - 0.1) < 1e-9);
  assert.equal(mesh.requestsPerCpuSecond, 10_000);
  assert.equal(mesh.cpuUsPerRequest, 100);
  assert.equal(mesh.cpuUsPerRequestPerHop, 50);
  assert.ok(Math.abs((mesh.ratioToNginx ?? 0) - 1 / 3) < 1e-9);
  assert.ok(Math.abs((mesh.addedP50PerHopMs ?? 0) - 0.2) < 1e-9, 'two hops share (0.51 - 0.11)');
  assert.equal(mesh.rssIdleMb, 8);
  assert.equal(haproxy.status, 'skipped');
  assert.equal(haproxy.reason, 'haproxy missing');
});

test('a target whose every run failed is reported as failed with the reasons', () => {
  const [row] = summarize([{ target: 'nginx', hops: 1, note: null, skipped: null, rssIdleBytes: null, repeats: [], failures: ['repeat 1: boom'] }]);
  assert.equal(row.status, 'failed');
  assert.equal(row.reason, 'repeat 1: boom');
  assert.equal(row.ratioToNginx, null);
});

test('a variant is compared with its baseline repeat by repeat', () => {
  const rows = summarize([
    outcome('trellis-mesh', 2, [rep(1, 100_000, 10, 0.5, null), rep(2, 50_000, 5, 0.6, null), rep(3, 80_000, 8, 0.7, null)]),
    // repeat 2 ran while the machine was busy: both halves of the pair slowed down together
    { ...outcome('trellis-mesh-mtls', 2, [rep(1, 90_000, 10.8, 0.6, null), rep(2, 45_000, 5.4, 0.7, null), rep(3, 76_000, 8, 0.9, null)]), baseline: 'trellis-mesh' },
  ]);
  const [plain, mtls] = rows;
  assert.equal(plain.baseline, null);
  const b = mtls.baseline;
  assert.ok(b !== null);
  assert.equal(b.target, 'trellis-mesh');
  // per-repeat req/s ratios 0.9, 0.9, 0.95 -> 0.9 (the ratio of the medians would be 0.95)
  assert.ok(Math.abs((b.requestsPerSecondRatio ?? 0) - 0.9) < 1e-9);
  // CPU per request: 120/100, 120/100, 105.3/100
  assert.ok(Math.abs((b.cpuPerRequestRatio ?? 0) - 1.2) < 1e-9);
  assert.ok(Math.abs((b.p50DeltaMs ?? 0) - 0.1) < 1e-9);
});

test('no comparison when the baseline did not run', () => {
  const [mtls] = summarize([{ ...outcome('trellis-mesh-mtls', 2, [rep(1, 90_000, 10, 0.6, null)]), baseline: 'trellis-mesh' }]);
  assert.equal(mtls.baseline, null);
});

test('an HTTP/2 mesh path is measured against its own direct path, never against nginx or the HTTP/1 direct', () => {
  const rows = summarize([
    outcome('direct', 0, [rep(1, 500_000, null, 0.1, null)]),
    outcome('nginx', 1, [rep(1, 300_000, 9, 0.2, null)]),
    { ...outcome('h2-direct', 0, [rep(1, 400_000, null, 0.3, null), rep(2, 200_000, null, 0.6, null)]), load: 'h2load' },
    { ...outcome('h2-mesh', 2, [rep(1, 40_000, 10, 1.5, null), rep(2, 30_000, 6, 2.4, null)]), load: 'h2load', baseline: 'h2-direct', direct: 'h2-direct' },
  ]);
  const mesh = rows[3];
  assert.equal(mesh.load, 'h2load');
  assert.equal(rows[0].load, 'wrk');
  assert.equal(mesh.ratioToNginx, null);
  // medians: h2-direct p50 0.45, h2-mesh 1.95 -> (1.95 - 0.45) / 2
  assert.ok(Math.abs((mesh.addedP50PerHopMs ?? 0) - 0.75) < 1e-9);
  const b = mesh.baseline;
  assert.ok(b !== null);
  // per repeat: req/s 0.1 and 0.15, p50 5 and 4, p99 (4 × p50) 5 and 4
  assert.ok(Math.abs((b.requestsPerSecondRatio ?? 0) - 0.125) < 1e-9);
  assert.ok(Math.abs((b.p50Ratio ?? 0) - 4.5) < 1e-9);
  assert.ok(Math.abs((b.p99Ratio ?? 0) - 4.5) < 1e-9);
  assert.equal(b.cpuPerRequestRatio, null, 'the direct path has no proxy CPU');
});
