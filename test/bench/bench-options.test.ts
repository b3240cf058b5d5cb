import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h2LatencySeconds, parseBenchOptions, targetNames, usage } from '../../bench/bench-options.js';

test('defaults follow shared/PERFORMANCE.md', () => {
  assert.deepEqual(parseBenchOptions([]), {
    duration: 10, connections: 50, latencyDuration: 5, latencyConnections: 8, warmup: 1, repeats: 3, only: [...targetNames], upstream: 'nginx',
    handshakeDuration: 5, handshakeConnections: 16, h2Connections: 10, h2Streams: 10, h2Duration: 5, cpuProfileDir: null,
  });
});

test('the latency run defaults to half the duration, at least 2 s', () => {
  const short = parseBenchOptions(['--duration', '3']);
  assert.ok(!(short instanceof Error));
  assert.equal(short.latencyDuration, 2);
  const long = parseBenchOptions(['--duration', '30', '--latency-duration', '7']);
  assert.ok(!(long instanceof Error));
  assert.equal(long.latencyDuration, 7);
});

test('HTTP/2 targets run half the duration by default, their latency runs half of that, each at least 2 s', () => {
  const d = parseBenchOptions(['--duration', '3']);
  assert.ok(!(d instanceof Error));
  assert.deepEqual([d.h2Duration, h2LatencySeconds(d)], [2, 2]);
  const e = parseBenchOptions(['--h2-duration', '9']);
  assert.ok(!(e instanceof Error));
  assert.deepEqual([e.duration, e.h2Duration, h2LatencySeconds(e)], [10, 9, 5]);
});

test('--only keeps the canonical interleaving order', () => {
  const o = parseBenchOptions(['--only', 'trellis-mesh, direct,nginx']);
  assert.ok(!(o instanceof Error));
  assert.deepEqual(o.only, ['direct', 'nginx', 'trellis-mesh']);
});

test('bad values are errors that name the option', () => {
  for (const [argv, pattern] of [
    [['--only', 'envoy'], /unknown target\(s\) envoy/],
    [['--duration', '1.5'], /--duration/],
    [['--repeats', '0'], /--repeats/],
    [['--warmup', '-1'], /--warmup/],
    [['--bogus'], /bogus/],
    [['--upstream', 'envoy'], /--upstream/],
    [['--h2-connections', '0'], /--h2-connections/],
    [['--h2-streams', 'x'], /--h2-streams/],
    [['--h2-duration', '0'], /--h2-duration/],
  ] as const) {
    const r = parseBenchOptions(argv);
    assert.ok(r instanceof Error, argv.join(' '));
    assert.match(r.message, pattern);
  }
  assert.equal((parseBenchOptions(['--help']) as Error).message, usage);
});
