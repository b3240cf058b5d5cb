import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePromText } from '../../../src/control/telemetry/prom-text-parser.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { snapshotFromSamples, trafficKey } from '../../../src/control/telemetry/traffic-snapshot.js';

test('parses counters, label escaping, special values and timestamps', () => {
  const text = [
    '# HELP trellis_requests_total Requests "handled".',
    '# TYPE trellis_requests_total counter',
    'trellis_requests_total{direction="inbound",route="a\\\\b",cluster="x\\"y",status_code="200",error=""} 12',
    'trellis_requests_total{direction="outbound",route="line\\nbreak",} 3 1700000000000',
    'up 1',
    'gauge_inf{le="+Inf"} +Inf',
    'neg -Inf',
    'nan NaN',
    'nan2 Nan',
    'sci 1.5e-3',
    '',
  ].join('\n');
  const r = parsePromText(text);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.types.get('trellis_requests_total'), 'counter');
  assert.deepEqual(r.samples[0], {
    name: 'trellis_requests_total',
    labels: { direction: 'inbound', route: 'a\\b', cluster: 'x"y', status_code: '200', error: '' },
    value: 12,
  });
  assert.equal(r.samples[1].labels.route, 'line\nbreak');
  assert.equal(r.samples[1].value, 3);
  assert.deepEqual(r.samples[2], { name: 'up', labels: {}, value: 1 });
  assert.equal(r.samples[3].value, Infinity);
  assert.equal(r.samples[3].labels.le, '+Inf');
  assert.equal(r.samples[4].value, -Infinity);
  assert.ok(Number.isNaN(r.samples[5].value));
  assert.ok(Number.isNaN(r.samples[6].value));
  assert.equal(r.samples[7].value, 0.0015);
});

test('parses a histogram with its buckets, sum and count', () => {
  const r = parsePromText([
    '# TYPE d histogram',
    'd_bucket{le="0.01"} 1',
    'd_bucket{le="0.1"} 4',
    'd_bucket{le="+Inf"} 5',
    'd_sum 0.73',
    'd_count 5',
  ].join('\n'));
  assert.ok(r.ok);
  assert.equal(r.types.get('d'), 'histogram');
  assert.deepEqual(r.samples.map((s) => [s.name, s.labels.le ?? null, s.value]), [
    ['d_bucket', '0.01', 1], ['d_bucket', '0.1', 4], ['d_bucket', '+Inf', 5], ['d_sum', null, 0.73], ['d_count', null, 5],
  ]);
});

test('rejects malformed lines with the line number', () => {
  const bad: [string, RegExp][] = [
    ['m{a="1"', /line 1: unterminated|expected/],
    ['m{a=1} 2', /quoted value/],
    ['m{a="\\x"} 1', /invalid escape/],
    ['m{a="1",a="2"} 1', /repeated/],
    ['m 0x10', /invalid value/],
    ['m', /expected a space|expected a value/],
    ['ok 1\n9m 1', /line 2: expected a metric name/],
    ['m 1 2 3', /expected a value and an optional timestamp/],
    ['m 1 12.5', /invalid timestamp/],
    ['# TYPE m sometype', /unknown metric type/],
  ];
  for (const [text, re] of bad) {
    const r = parsePromText(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.error, re, text);
  }
});

test('reads what a real sidecar exposes', async () => {
  const m = new ProxyMetrics({ processMetrics: true });
  const s = m.routeStatsFor('outbound', 'api.default', 'api.default');
  s.record(200, null, 0.004);
  s.record(503, null, 0.2);
  const r = parsePromText(await m.text());
  assert.ok(r.ok, r.ok ? '' : r.error);
  const req = r.samples.filter((x) => x.name === 'trellis_requests_total');
  assert.equal(req.length, 2);
  // success and failure are separate series (label classification); the collector sums them
  const inf = r.samples.filter((x) => x.name === 'trellis_request_duration_seconds_bucket' && x.labels.le === '+Inf');
  assert.deepEqual(inf.map((x) => [x.labels.classification, x.value]).sort(), [['failure', 1], ['success', 1]]);
  assert.equal(snapshotFromSamples(r.samples).get(trafficKey('outbound', 'api.default', 'api.default'))?.buckets.get(Infinity), 2);
  assert.ok(r.samples.some((x) => x.name === 'trellis_proxy_process_start_time_seconds'));
});
