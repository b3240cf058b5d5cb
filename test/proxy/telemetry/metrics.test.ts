import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics, durationBuckets } from '../../../src/proxy/telemetry/metrics.js';
import { errors } from '../../../src/proxy/errors.js';

test('route stats count by status and error, and fill cumulative buckets', async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const s = m.routeStatsFor('outbound', 'r', 'c');
  assert.equal(m.routeStatsFor('outbound', 'r', 'c'), s, 'one bound object per label tuple');
  s.record(200, null, 0.0015);
  s.record(200, null, 0.004);
  s.record(504, errors.timeout, 12);
  const text = await m.text();
  assert.match(text, /trellis_requests_total\{direction="outbound",route="r",cluster="c",status_code="200",error="",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown"\} 2/);
  assert.match(text, /trellis_requests_total\{direction="outbound",route="r",cluster="c",status_code="504",error="timeout",method="other",classification="failure",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown"\} 1/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown",le="0.001"\} 0/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown",le="0.002"\} 1/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown",le="0.005"\} 2/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown",le="10"\} 2/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="success",source_service="unknown",destination_service="c",source_identity="unknown",destination_identity="unknown",le="\+Inf"\} 2/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="failure",[^}]*le="10"\} 0/);
  assert.match(text, /_bucket\{direction="outbound",route="r",cluster="c",method="other",classification="failure",[^}]*le="\+Inf"\} 1/);
  assert.match(text, /trellis_request_duration_seconds_count\{direction="outbound",route="r",cluster="c",method="other",classification="success",[^}]*\} 2/);
  assert.equal(durationBuckets[0], 0.001);
  assert.equal(durationBuckets[durationBuckets.length - 1], 10);
});

test('with request metrics off (trellis proxy --no-request-metrics) requests are neither counted nor timed', async () => {
  const m = new ProxyMetrics({ processMetrics: false, requestMetrics: false });
  const s = m.routeStatsFor('outbound', 'r', 'c');
  s.record(200, null, 0.0015);
  s.record(504, errors.timeout, 12, undefined, 4);
  m.retries.cell('c', 'status').inc();
  const text = await m.text();
  assert.doesNotMatch(text, /trellis_requests_total\{/);
  assert.doesNotMatch(text, /trellis_request_duration_seconds_(bucket|count)\{/);
  assert.doesNotMatch(text, /trellis_grpc_requests_total\{/);
  assert.match(text, /trellis_retries_total\{cluster="c",reason="status"\} 1/, 'resilience counters are not request metrics');
});

test('every catalog error has a code, a status and a header value', () => {
  const names = new Set<string>();
  for (const e of Object.values(errors)) {
    assert.match(e.code, /^TRL_ERR_[A-Z_]+$/);
    assert.ok(e.status >= 400 && e.status < 600);
    assert.match(e.name, /^[a-z-]+$/);
    names.add(e.name);
  }
  assert.deepEqual([...names].sort(), ['bad-request', 'connect-timeout', 'fault-abort', 'no-healthy-upstream', 'no-route', 'overloaded', 'request-timeout', 'timeout', 'unauthorized', 'upstream-connect', 'upstream-protocol-error', 'upstream-reset']);
  assert.equal(errors.noRoute.status, 404);
  assert.equal(errors.noHealthyUpstream.status, 503);
  assert.equal(errors.upstreamConnect.status, 502);
  assert.equal(errors.timeout.status, 504);
  assert.equal(errors.connectTimeout.status, 504);
});
