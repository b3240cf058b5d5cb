// Golden text of the sidecar's exposition (format 0.0.4) for every metric type and escaping case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  escapeHelp, escapeLabelValue, formatExposition, formatFamily, formatSampleValue, promTextContentType,
} from '../../../src/proxy/telemetry/prom-exposition.js';
import { CounterFamily, GaugeFamily, HistogramFamily, ScrapeFamily } from '../../../src/proxy/telemetry/metric-families.js';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';

test('the content type is the 0.0.4 text format', () => {
  assert.equal(promTextContentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(new MetricRegistry().contentType, promTextContentType);
});

test('values: integers and decimals as JavaScript prints them, NaN and infinities as Go parses them', () => {
  assert.equal(formatSampleValue(0), '0');
  assert.equal(formatSampleValue(-0), '0');
  assert.equal(formatSampleValue(42), '42');
  assert.equal(formatSampleValue(-3.25), '-3.25');
  assert.equal(formatSampleValue(0.1 + 0.2), '0.30000000000000004');
  assert.equal(formatSampleValue(1e-7), '1e-7');
  assert.equal(formatSampleValue(1.5e21), '1.5e+21');
  assert.equal(formatSampleValue(Number.MAX_SAFE_INTEGER + 2), '9007199254740992');
  assert.equal(formatSampleValue(NaN), 'NaN');
  assert.equal(formatSampleValue(Infinity), '+Inf');
  assert.equal(formatSampleValue(-Infinity), '-Inf');
});

test('escaping: help escapes backslash and line feed; label values also the double quote', () => {
  assert.equal(escapeHelp('a\\b\nc "d"'), 'a\\\\b\\nc "d"');
  assert.equal(escapeLabelValue('a\\b\nc "d"'), 'a\\\\b\\nc \\"d\\"');
  assert.equal(escapeLabelValue('\\"'), '\\\\\\"', 'a backslash before a quote is escaped on its own');
  assert.equal(escapeLabelValue('\\n'), '\\\\n', 'a literal backslash-n stays two characters');
  assert.equal(escapeLabelValue('tab\there, ünïcødé, {}=,'), 'tab\there, ünïcødé, {}=,', 'nothing else is escaped');
  assert.equal(escapeLabelValue(''), '');
});

test('a counter: HELP, TYPE, one line per label set in creation order', () => {
  const f = new CounterFamily('t_requests_total', 'Requests, by "code".\nSecond line \\ end', ['code', 'path']);
  f.cell('200', '/a').inc();
  f.cell('500', 'say "hi"\\\n').inc(2.5);
  f.cell('200', '/a').inc();
  assert.equal(formatFamily({ name: f.name, help: f.help, type: f.type, samples: f.collect() }), [
    '# HELP t_requests_total Requests, by "code".\\nSecond line \\\\ end',
    '# TYPE t_requests_total counter',
    't_requests_total{code="200",path="/a"} 2',
    't_requests_total{code="500",path="say \\"hi\\"\\\\\\n"} 2.5',
  ].join('\n'));
});

test('a gauge without labels, and special values', () => {
  const g = new GaugeFamily('t_temperature', 'A gauge.', []);
  const c = g.cell();
  c.set(5);
  c.dec(7);
  assert.equal(formatFamily({ name: g.name, help: g.help, type: g.type, samples: g.collect() }),
    '# HELP t_temperature A gauge.\n# TYPE t_temperature gauge\nt_temperature -2');
  c.set(NaN);
  assert.match(formatFamily({ name: g.name, help: g.help, type: g.type, samples: g.collect() }), /\nt_temperature NaN$/);
  c.set(-Infinity);
  assert.match(formatFamily({ name: g.name, help: g.help, type: g.type, samples: g.collect() }), /\nt_temperature -Inf$/);
});

test('a histogram: cumulative _bucket lines with le last, +Inf equal to _count, then _sum and _count', () => {
  const h = new HistogramFamily('t_latency_seconds', 'Latency.', ['route'], [0.005, 0.1, 1, 2.5]);
  const cell = h.cell('a"b');
  for (const v of [0.001, 0.005, 0.05, 0.5, 3, 100]) cell.observe(v);
  const empty = h.cell('idle');
  void empty;
  const registry = new MetricRegistry();
  registry.registerMetric(h);
  assert.equal(registry.metrics(), [
    '# HELP t_latency_seconds Latency.',
    '# TYPE t_latency_seconds histogram',
    't_latency_seconds_bucket{route="a\\"b",le="0.005"} 2',
    't_latency_seconds_bucket{route="a\\"b",le="0.1"} 3',
    't_latency_seconds_bucket{route="a\\"b",le="1"} 4',
    't_latency_seconds_bucket{route="a\\"b",le="2.5"} 4',
    't_latency_seconds_bucket{route="a\\"b",le="+Inf"} 6',
    't_latency_seconds_sum{route="a\\"b"} 103.556',
    't_latency_seconds_count{route="a\\"b"} 6',
    't_latency_seconds_bucket{route="idle",le="0.005"} 0',
    't_latency_seconds_bucket{route="idle",le="0.1"} 0',
    't_latency_seconds_bucket{route="idle",le="1"} 0',
    't_latency_seconds_bucket{route="idle",le="2.5"} 0',
    't_latency_seconds_bucket{route="idle",le="+Inf"} 0',
    't_latency_seconds_sum{route="idle"} 0',
    't_latency_seconds_count{route="idle"} 0',
    '',
  ].join('\n'));
});

test('a histogram observation exactly on a bound lands in that bucket; NaN counts only in +Inf', () => {
  const h = new HistogramFamily('t_h', 'H.', [], [1, 2]);
  const c = h.cell();
  c.observe(1);
  c.observe(2);
  c.observe(NaN);
  const lines = formatFamily({ name: h.name, help: h.help, type: h.type, samples: h.collect() }).split('\n').slice(2);
  assert.deepEqual(lines, ['t_h_bucket{le="1"} 1', 't_h_bucket{le="2"} 2', 't_h_bucket{le="+Inf"} 3', 't_h_sum NaN', 't_h_count 3']);
});

test('a whole exposition: families in registration order, a blank line between, a final line feed; empty families keep HELP and TYPE', () => {
  const registry = new MetricRegistry();
  const a = new CounterFamily('t_a_total', 'A.', ['x']);
  const b = new GaugeFamily('t_b', 'B.', ['y']);
  let reads = 0;
  const s = new ScrapeFamily('t_scraped', 'Read at scrape time.', 'gauge', ['k'], (emit) => {
    reads++;
    emit(reads, 'first');
    emit(-1, 'second');
  });
  registry.registerMetric(b);
  registry.registerMetric(a);
  registry.registerMetric(s);
  a.cell('1').inc();
  assert.equal(registry.metrics(), [
    '# HELP t_b B.', '# TYPE t_b gauge', '',
    '# HELP t_a_total A.', '# TYPE t_a_total counter', 't_a_total{x="1"} 1', '',
    '# HELP t_scraped Read at scrape time.', '# TYPE t_scraped gauge', 't_scraped{k="first"} 1', 't_scraped{k="second"} -1', '',
  ].join('\n'));
  assert.match(registry.metrics(), /t_scraped\{k="first"\} 2/, 'read again on every scrape');
  assert.equal(formatExposition([]), '');
});
