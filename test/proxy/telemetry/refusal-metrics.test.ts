import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { refusalMetricsFor } from '../../../src/proxy/telemetry/refusal-metrics.js';

test('refusals are counted by direction and reason in one family per proxy', async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const r = refusalMetricsFor(m.registry);
  assert.equal(refusalMetricsFor(m.registry), r, 'one set per registry');
  const cell = r.cell('inbound', 'header-too-large');
  assert.equal(r.cell('inbound', 'header-too-large'), cell, 'one cell per label tuple');
  cell.inc();
  cell.inc();
  r.count('outbound', 'response-conflicting-length');
  const text = await m.text();
  assert.match(text, /# TYPE trellis_refused_total counter/);
  assert.match(text, /trellis_refused_total\{direction="inbound",reason="header-too-large"\} 2/);
  assert.match(text, /trellis_refused_total\{direction="outbound",reason="response-conflicting-length"\} 1/);
  assert.doesNotMatch(text, /direction="outbound",reason="header-too-large"/);
  const other = new ProxyMetrics({ processMetrics: false });
  assert.notEqual(refusalMetricsFor(other.registry), r, 'proxies in one process stay apart');
  assert.doesNotMatch(await other.text(), /trellis_refused_total\{/);
});
