import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../bench/bench-report.js';
import { fileTimestamp, writeReportFiles } from '../../bench/bench-report-files.js';
import { renderMarkdown } from '../../bench/bench-report-markdown.js';
import { renderTable } from '../../bench/bench-report-table.js';
import { summarize } from '../../bench/bench-summary.js';

function report(): BenchReport {
  const wrk = (requests: number, p50Ms: number | null) => ({ requests, seconds: 10, requestsPerSecond: requests / 10, p50Ms, p99Ms: p50Ms, errors: 0, errorKinds: '' });
  return {
    startedAt: '2025-03-04T05:06:07.891Z',
    finishedAt: '2025-03-04T05:11:07.891Z',
    options: { duration: 10, connections: 50, latencyDuration: 5, latencyConnections: 8, warmup: 1, repeats: 1, only: ['direct', 'nginx', 'haproxy'], upstream: 'nginx', handshakeDuration: 5, handshakeConnections: 16, h2Connections: 10, h2Streams: 10, h2Duration: 5, cpuProfileDir: null },
    environment: { node: 'v20', kernel: '6', cpuModel: 'cpu', cpuCount: 2, tools: ['nginx version: nginx/1.22.1'], commit: 'abc' },
    upstream: { kind: 'nginx', note: null },
    loadAverage: { start: 0.2, end: 1.4 },
    pinning: { proxyCpus: '0', loadCpus: '1', note: null },
    targets: summarize([
      { target: 'direct', hops: 0, note: null, skipped: null, rssIdleBytes: null, failures: [],
        repeats: [{ repeat: 1, throughput: wrk(600_000, null), latency: wrk(1, 0.1), cpuSeconds: null, rssPeakBytes: null, pids: [] }] },
      { target: 'nginx', hops: 1, note: null, skipped: null, rssIdleBytes: 8 << 20, failures: [],
        repeats: [{ repeat: 1, throughput: wrk(300_000, null), latency: wrk(1, 0.2), cpuSeconds: 9, rssPeakBytes: 9 << 20, pids: [1] }] },
      { target: 'haproxy', hops: 0, note: null, skipped: 'haproxy | not installed', rssIdleBytes: null, repeats: [], failures: [] },
    ]),
    newConnections: null,
  };
}

test('the terminal table aligns rows and says why a target was skipped', () => {
  const lines = renderTable(report()).split('\n');
  assert.match(lines[0], /^target\s+req\/s \(c50\)\s+p50 ms \(c8\)/);
  const nginx = lines.find((l) => l.startsWith('nginx')) ?? '';
  assert.match(nginx, /30000\s+0\.200\s+0\.200\s+33333\s+30\.0\s+1\.00\s+8\.0 \/ 9\.0\s+\+0\.100\s+0$/);
  assert.equal(nginx.length, lines[0].length);
  assert.ok(lines.some((l) => /^haproxy\s+skipped: haproxy \| not installed$/.test(l)));
});

test('the Markdown table has one cell per header and escapes pipes', () => {
  const md = renderMarkdown(report());
  const rows = md.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(rows.length, 5);
  const cells = (row: string): number => row.replace(/\\\|/g, '').split('|').length;
  for (const row of rows) assert.equal(cells(row), cells(rows[0]), row);
  assert.match(md, /skipped: haproxy \\\| not installed/);
});

test('files are named by an ISO 8601 basic timestamp, with latest.md beside them', () => {
  assert.equal(fileTimestamp('2025-03-04T05:06:07.891Z'), '20250304T050607Z');
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  try {
    const paths = writeReportFiles(dir, report());
    assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), ['20250304T050607Z.json', '20250304T050607Z.md', 'latest.md']);
    assert.equal(JSON.parse(readFileSync(paths[0], 'utf8')).targets[1].ratioToNginx, 1);
    assert.equal(readFileSync(paths[2], 'utf8'), readFileSync(paths[1], 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('notes say which run had errors and of which kind', () => {
  const r = report();
  const nginx = r.targets[1];
  const bad = { ...nginx.repeats[0], latency: { ...nginx.repeats[0].latency, errors: 3, errorKinds: 'read 3' } };
  const withErrors: BenchReport = { ...r, targets: [{ ...nginx, errors: 3, repeats: [bad] }] };
  assert.match(renderTable(withErrors), /\* nginx: 3 non-2xx responses or socket errors \(repeat 1 latency: read 3\); its figures are suspect/);
});

test('a busy machine is called out', () => {
  const r = report();
  assert.doesNotMatch(renderTable(r), /machine busy/);
  assert.match(renderMarkdown({ ...r, loadAverage: { start: 5.2, end: 6 } }), /- machine busy: 1-minute load average 5\.2 before the run \(6\.0 after\) on 2 CPUs/);
});

test('HTTP/2 targets get their own table with the mesh ÷ direct ratios, and stay out of the HTTP/1.1 one', () => {
  const r = report();
  const h2 = (requests: number, p50Ms: number | null) => ({ requests, seconds: 10, requestsPerSecond: requests / 10, p50Ms, p99Ms: p50Ms === null ? null : p50Ms * 2, errors: 0, errorKinds: '' });
  const targets = summarize([
    { target: 'direct', hops: 0, note: null, skipped: null, rssIdleBytes: null, failures: [],
      repeats: [{ repeat: 1, throughput: h2(600_000, 0.1), latency: h2(1, 0.1), cpuSeconds: null, rssPeakBytes: null, pids: [] }] },
    { target: 'grpc-direct', load: 'h2load', hops: 0, note: null, skipped: null, rssIdleBytes: null, failures: [],
      repeats: [{ repeat: 1, throughput: h2(200_000, null), latency: h2(1, 0.5), cpuSeconds: null, rssPeakBytes: null, pids: [] }] },
    { target: 'grpc-mesh', load: 'h2load', baseline: 'grpc-direct', direct: 'grpc-direct', hops: 2, note: null, skipped: null, rssIdleBytes: 100 << 20, failures: [],
      repeats: [{ repeat: 1, throughput: h2(50_000, null), latency: h2(1, 2), cpuSeconds: 10, rssPeakBytes: 120 << 20, pids: [1, 2] }] },
    { target: 'h2-mesh', load: 'h2load', hops: 0, note: null, skipped: 'h2load | missing', rssIdleBytes: null, repeats: [], failures: [] },
  ]);
  const withH2: BenchReport = { ...r, options: { ...r.options, only: ['direct', 'grpc-direct', 'grpc-mesh', 'h2-mesh'] }, targets };
  const table = renderTable(withH2);
  const [main, rest] = table.split('HTTP/2 and gRPC (h2load, h2c with prior knowledge):');
  assert.doesNotMatch(main, /grpc/);
  assert.match(rest, /^target\s+req\/s \(c10×m10\)\s+p50 ms \(c8×m1\)/m);
  assert.match(rest, /^grpc-mesh\s+5000\s+2\.000\s+4\.000\s+200\.0 \(100\.0\/hop\)\s+100\.0 \/ 120\.0\s+0\.25\s+4\.00\s+4\.00\s+\+0\.750\s+0$/m);
  assert.match(rest, /^h2-mesh\s+skipped: h2load \| missing$/m);
  const md = renderMarkdown(withH2);
  assert.match(md, /## HTTP\/2 and gRPC/);
  const section = md.slice(md.indexOf('## HTTP/2'));
  const rows = section.split('\n').filter((l) => l.startsWith('|'));
  const cells = (row: string): number => row.replace(/\\\|/g, '').split('|').length;
  for (const row of rows) assert.equal(cells(row), cells(rows[0]), row);
});
