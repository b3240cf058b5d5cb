// The sidecar's registry: what it refuses (naming the field), and that what it writes is read back
// to the same values by the control plane's strict parser and accepted by promtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CounterFamily, GaugeFamily, HistogramFamily, ScrapeFamily } from '../../../src/proxy/telemetry/metric-families.js';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { parsePromText } from '../../../src/control/telemetry/prom-text-parser.js';

test('malformed families are refused with an error naming the field', () => {
  const r = new MetricRegistry();
  assert.throws(() => r.registerMetric(new CounterFamily('1bad', 'x', [])), /^Error: metric name: "1bad"/);
  assert.throws(() => r.registerMetric(new CounterFamily('bad-name', 'x', [])), /metric name: "bad-name"/);
  assert.throws(() => r.registerMetric(new CounterFamily('t_ok', '', [])), /metric help of t_ok: must not be empty/);
  assert.throws(() => r.registerMetric(new CounterFamily('t_ok', 'x', ['a-b'])), /label name of t_ok: "a-b"/);
  assert.throws(() => r.registerMetric(new CounterFamily('t_ok', 'x', ['__reserved'])), /label name of t_ok: "__reserved"/);
  assert.throws(() => r.registerMetric(new CounterFamily('t_ok', 'x', ['a', 'a'])), /label name of t_ok: "a" repeated/);
  assert.throws(() => r.registerMetric(new HistogramFamily('t_h', 'x', ['le'], [1])), /label name of t_h: "le" is reserved/);
  assert.throws(() => new HistogramFamily('t_h', 'x', [], [1, 1]), /buckets of t_h: must be finite and increasing/);
  assert.throws(() => new HistogramFamily('t_h', 'x', [], [2, 1]), /buckets of t_h/);
  assert.throws(() => new HistogramFamily('t_h', 'x', [], [1, Infinity]), /buckets of t_h/);
  assert.throws(() => r.registerMetric({ name: 't_x', help: 'x', type: 'summary' as 'gauge', labelNames: [], collect: () => [] }),
    /metric type of t_x: "summary"/);
  assert.equal(r.metrics(), '', 'nothing refused was registered');
});

test('a name is registered once; a histogram also takes its _bucket, _sum and _count; the same family twice is one', () => {
  const r = new MetricRegistry();
  const c = new CounterFamily('t_a_total', 'A.', []);
  r.registerMetric(c);
  r.registerMetric(c);
  assert.equal(r.metrics().match(/# TYPE/g)?.length, 1);
  assert.throws(() => r.registerMetric(new GaugeFamily('t_a_total', 'again', [])), /metric name: "t_a_total" is already registered/);
  r.registerMetric(new HistogramFamily('t_lat', 'L.', [], [1]));
  assert.throws(() => r.registerMetric(new CounterFamily('t_lat_count', 'clash', [])), /"t_lat_count" is already registered/);
  r.registerMetric(new GaugeFamily('t_other', 'O.', []));
  assert.throws(() => r.registerMetric(new HistogramFamily('t_other', 'clash', [], [1])), /"t_other" is already registered/);
});

test('label values in the wrong number are refused, naming the family', () => {
  const c = new CounterFamily('t_c_total', 'C.', ['a', 'b']);
  assert.throws(() => c.cell('only-one'), /label values of t_c_total: 1 given for 2 labels \(a, b\)/);
  const s = new ScrapeFamily('t_s', 'S.', 'gauge', ['a'], (emit) => emit(1));
  assert.throws(() => s.collect(), /label values of t_s: 0 given for 1 labels \(a\)/);
});

/** Every type, with label values and numbers that need care. */
function trickyRegistry(): MetricRegistry {
  const r = new MetricRegistry();
  const c = new CounterFamily('t_requests_total', 'Requests with "quotes", a \\ backslash\nand a line feed.', ['route', 'code']);
  c.cell('a"b', '200').inc(3);
  c.cell('back\\slash', '200').inc(1e21);
  c.cell('line\nfeed', '503').inc(0.5);
  c.cell('', '0').inc(0);
  c.cell('ünï {x="1"}, le=', '200').inc(7);
  const g = new GaugeFamily('t_level', 'G.', ['kind']);
  g.cell('nan').set(NaN);
  g.cell('pinf').set(Infinity);
  g.cell('ninf').set(-Infinity);
  g.cell('tiny').set(-1.25e-9);
  const h = new HistogramFamily('t_latency_seconds', 'L.', ['route'], [0.001, 0.25, 1, 10]);
  for (const v of [0.0005, 0.001, 0.2, 0.3, 9.99, 11]) h.cell('r"1').observe(v);
  h.cell('empty');
  r.registerMetric(c);
  r.registerMetric(g);
  r.registerMetric(h);
  r.registerMetric(new ScrapeFamily('t_plain', 'No labels.', 'gauge', [], (emit) => emit(12345.678)));
  return r;
}

test('the control plane\'s parser reads the exposition back to the same names, labels and values', () => {
  const parsed = parsePromText(trickyRegistry().metrics());
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  const value = (name: string, labels: Record<string, string>) => {
    const found = parsed.samples.filter((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));
    assert.equal(found.length, 1, `one sample ${name}${JSON.stringify(labels)}`);
    return found[0].value;
  };
  assert.equal(value('t_requests_total', { route: 'a"b', code: '200' }), 3);
  assert.equal(value('t_requests_total', { route: 'back\\slash', code: '200' }), 1e21);
  assert.equal(value('t_requests_total', { route: 'line\nfeed', code: '503' }), 0.5);
  assert.equal(value('t_requests_total', { route: '', code: '0' }), 0);
  assert.equal(value('t_requests_total', { route: 'ünï {x="1"}, le=', code: '200' }), 7);
  assert.ok(Number.isNaN(value('t_level', { kind: 'nan' })));
  assert.equal(value('t_level', { kind: 'pinf' }), Infinity);
  assert.equal(value('t_level', { kind: 'ninf' }), -Infinity);
  assert.equal(value('t_level', { kind: 'tiny' }), -1.25e-9);
  const buckets = ['0.001', '0.25', '1', '10', '+Inf'].map((le) => value('t_latency_seconds_bucket', { route: 'r"1', le }));
  assert.deepEqual(buckets, [2, 3, 4, 5, 6]);
  assert.equal(value('t_latency_seconds_count', { route: 'r"1' }), 6);
  assert.equal(value('t_latency_seconds_sum', { route: 'r"1' }), 0.0005 + 0.001 + 0.2 + 0.3 + 9.99 + 11);
  assert.equal(value('t_latency_seconds_bucket', { route: 'empty', le: '+Inf' }), 0);
  assert.equal(value('t_plain', {}), 12345.678);
  assert.deepEqual([...parsed.types], [['t_requests_total', 'counter'], ['t_level', 'gauge'], ['t_latency_seconds', 'histogram'], ['t_plain', 'gauge']]);
  assert.equal(parsed.samples.length, 5 + 4 + 2 * 7 + 1);
});

const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();

test('promtool check metrics accepts the exposition of every type and escaping case', {
  skip: promtool ? false : 'promtool is not installed (Debian package `prometheus`)',
  timeout: 30_000,
}, () => {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: trickyRegistry().metrics(), encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `promtool exit ${r.status}: ${r.stdout}${r.stderr}`);
});

test('promtool refuses what the format forbids (so the check above can fail)', {
  skip: promtool ? false : 'promtool is not installed (Debian package `prometheus`)',
  timeout: 30_000,
}, () => {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: '# HELP t_x X.\n# TYPE t_x gauge\nt_x{a="unescaped " quote"} 1\n', encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(r.status, 0);
});
