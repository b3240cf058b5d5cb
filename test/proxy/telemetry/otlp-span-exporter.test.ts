import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { OtlpSpanExporter, collectorUrl, otlpRequest, type FinishedSpan } from '../../../src/proxy/telemetry/otlp-span-exporter.js';
import { otlpReceiver, thost } from './telemetry-support.js';

const span = (i: number): FinishedSpan => ({
  traceId: 'a'.repeat(32), spanId: i.toString(16).padStart(16, '0'), parentSpanId: null, name: `s${i}`, kind: 2,
  startUnixNano: 1_000n, endUnixNano: 2_000n, error: i % 2 === 1, attributes: { n: i, ok: true, x: 1.5, none: null },
});

test('OTLP/JSON: ids as hex, times as strings, typed attributes, nulls left out', () => {
  const body = otlpRequest([span(1)], 'web', 'default') as any;
  const s = body.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(s.spanId, '0000000000000001');
  assert.equal(s.startTimeUnixNano, '1000');
  assert.deepEqual(s.attributes, [
    { key: 'n', value: { intValue: '1' } }, { key: 'ok', value: { boolValue: true } }, { key: 'x', value: { doubleValue: 1.5 } },
  ]);
  assert.deepEqual(s.status, { code: 2 });
  assert.equal(collectorUrl('127.0.0.1:4318').href, 'http://127.0.0.1:4318/v1/traces');
  assert.equal(collectorUrl('http://c:4318/custom').href, 'http://c:4318/custom');
});

test('batches go out in order, at most maxBatch per request; a full queue drops and counts', async () => {
  const rx = await otlpReceiver(thost(70));
  const e = new OtlpSpanExporter({ collector: rx.url, serviceName: 'web', serviceNamespace: 'default', maxQueue: 5, maxBatch: 2, flushIntervalMs: 60_000 });
  try {
    for (let i = 0; i < 7; i++) e.export(span(i));
    assert.equal(e.stats.dropped, 2);
    await e.flush();
    assert.deepEqual(rx.spans.map((s) => s.name), ['s0', 's1', 's2', 's3', 's4']);
    assert.equal(e.stats.exported, 5);
  } finally {
    await e.close();
    await rx.close();
  }
});

test('an unreachable collector costs the spans, never an exception; close does not hang on it', async () => {
  // a port that refuses: bound, then closed
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, thost(71), resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  const e = new OtlpSpanExporter({ collector: `${thost(71)}:${port}`, serviceName: 'web', serviceNamespace: 'default', flushIntervalMs: 60_000 });
  e.export(span(1));
  e.export(span(2));
  await e.flush();
  assert.equal(e.stats.exported, 0);
  assert.equal(e.stats.dropped, 2);
  assert.equal(e.stats.failedBatches, 1);
  // a collector that accepts and never answers: close gives up after its grace period
  const held = new Set<net.Socket>();
  const hang = net.createServer((s) => {
    held.add(s);
    // reads (so it sees the exporter hang up) but never answers
    s.resume();
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => hang.listen(0, thost(72), resolve));
  const e2 = new OtlpSpanExporter({ collector: `${thost(72)}:${(hang.address() as net.AddressInfo).port}`, serviceName: 'web', serviceNamespace: 'default', flushIntervalMs: 60_000 });
  e2.export(span(3));
  const t0 = Date.now();
  await e2.close(200);
  assert.ok(Date.now() - t0 < 5000);
  // the request that never got an answer is cut, so the collector sees its connection close
  await new Promise<void>((resolve) => hang.close(() => resolve()));
  assert.ok(held.size > 0);
});
