import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NewConnectionMeasured, NewConnectionSetup } from '../../bench/bench-new-connections.js';
import { summarizeNewConnections } from '../../bench/bench-new-connections-summary.js';
import type { BenchReport } from '../../bench/bench-report.js';
import { renderMarkdown } from '../../bench/bench-report-markdown.js';
import { renderTable } from '../../bench/bench-report-table.js';

const setup: NewConnectionSetup = {
  host: '127.0.41.21', port: 15006, certFile: 'c', keyFile: 'k', caFile: 'a', expectId: 'spiffe://cluster.local/ns/default/svc/bench-app',
  alpn: ['http/1.1'], sources: ['127.0.41.100'], sidecarPids: [1],
};

function run(mode: 'tcp' | 'tls', repeat: number, completed: number, sidecarCpuSeconds: number, errors = 0): NewConnectionMeasured {
  return {
    mode, repeat, seconds: 5, concurrency: 16, completed, errors, errorKinds: errors > 0 ? ['ECONNRESET'] : [],
    p50Ms: 1, p99Ms: 4, resumed: 0, clientCpuSeconds: 2.5, sidecarCpuSeconds,
  };
}

function report(newConnections: BenchReport['newConnections']): BenchReport {
  return {
    startedAt: '2025-03-04T05:06:07.891Z', finishedAt: '2025-03-04T05:11:07.891Z',
    options: { duration: 10, connections: 50, latencyDuration: 5, latencyConnections: 8, warmup: 1, repeats: 3, only: ['trellis-mesh-mtls'], upstream: 'nginx', handshakeDuration: 5, handshakeConnections: 16, h2Connections: 10, h2Streams: 10, h2Duration: 5, cpuProfileDir: null },
    environment: { node: 'v20', kernel: '6', cpuModel: 'cpu', cpuCount: 2, tools: [], commit: 'abc' },
    upstream: { kind: 'nginx', note: null }, loadAverage: { start: 0.2, end: 0.3 },
    pinning: { proxyCpus: '0', loadCpus: '1', note: null }, targets: [], newConnections,
  };
}

test('rates, sidecar CPU per connection and the TLS ÷ TCP ratio are medians over repeats', () => {
  const s = summarizeNewConnections(setup, 5, 16,
    new Map([['tcp', [run('tcp', 1, 50_000, 2), run('tcp', 2, 40_000, 2), run('tcp', 3, 45_000, 2)]], ['tls', [run('tls', 1, 5000, 5), run('tls', 2, 2000, 4), run('tls', 3, 4500, 4.5)]]]),
    new Map());
  const [tcp, tls] = s.rows;
  assert.equal(tcp.perSecond, 9000);
  assert.equal(tls.perSecond, 900);
  assert.equal(tls.sidecarCpuUsPerConnection, 1000);
  assert.equal(tls.perSidecarCpuSecond, 1000);
  assert.equal(tcp.perSidecarCpuSecond, 22_500);
  assert.equal(tls.sidecarCpuShare, 0.9);
  assert.equal(tls.clientCpuShare, 0.5);
  // per repeat: 0.1, 0.05, 0.1
  assert.equal(s.tlsToTcpRatio, 0.1);
  assert.equal(s.listener, '127.0.41.21:15006');
});

test('the report prints both kinds, the errors and why a kind failed', () => {
  const s = summarizeNewConnections(setup, 5, 16, new Map([['tls', [run('tls', 1, 5000, 5, 3)]]]), new Map([['tcp', ['repeat 1: boom']]]));
  const text = renderTable(report(s));
  assert.match(text, /New connections to the mTLS sidecar's inbound listener:/);
  assert.match(text, /^TCP connect\s+failed: repeat 1: boom$/m);
  assert.match(text, /^mTLS handshake \(full\)\s+1000\s+1\.000\s+4\.000\s+1000\.0\s+1000\s+100\s+50\s+3$/m);
  assert.match(text, /mTLS handshake \(full\): 3 failed connections \(ECONNRESET\)/);
  const md = renderMarkdown(report(s));
  assert.match(md, /## New connections to the mTLS sidecar's inbound listener/);
  assert.match(md, /\| mTLS handshake \(full\) \| 1000 \| 1\.000 \| 4\.000 \| 1000\.0 \| 1000 \| 100 \| 50 \| 3 \|/);
});

test('a skipped measurement says why', () => {
  assert.match(renderTable(report({ skipped: 'trellis-mesh-mtls did not start' })), /\* skipped: trellis-mesh-mtls did not start/);
});
