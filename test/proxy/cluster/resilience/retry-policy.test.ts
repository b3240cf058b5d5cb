import test from 'node:test';
import assert from 'node:assert/strict';
import { CompiledRetryPolicy } from '../../../../src/proxy/cluster/resilience/retry-policy.js';
import { errors } from '../../../../src/proxy/errors.js';
import type { RetryPolicy } from '../../../../src/proxy/config/proxy-config.js';

const base: RetryPolicy = {
  maxRetries: 2, retryOn: [], retriableStatusCodes: [], perTryTimeoutMs: 0,
  backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, maxBufferBytes: 65536,
};

test('gateway-error retries 502/503/504 and connection failures, not 500', () => {
  const p = new CompiledRetryPolicy({ ...base, retryOn: ['gateway-error'] });
  assert.equal(p.reasonForStatus(503), 'gateway-error');
  assert.equal(p.reasonForStatus(502), 'gateway-error');
  assert.equal(p.reasonForStatus(500), null);
  assert.equal(p.reasonForStatus(200), null);
  assert.equal(p.reasonForError(errors.upstreamConnect), 'connect-failure');
  assert.equal(p.reasonForError(errors.connectTimeout), 'connect-failure');
  assert.equal(p.reasonForError(errors.upstreamReset), 'reset');
});

test('5xx covers every 5xx; retriable-status-codes names its own', () => {
  const p = new CompiledRetryPolicy({ ...base, retryOn: ['5xx', 'retriable-status-codes'], retriableStatusCodes: [409, 503] });
  assert.equal(p.reasonForStatus(500), '5xx');
  assert.equal(p.reasonForStatus(599), '5xx');
  assert.equal(p.reasonForStatus(409), 'retriable-status-code');
  assert.equal(p.reasonForStatus(503), 'retriable-status-code');
  assert.equal(p.reasonForStatus(404), null);
});

test('connect-failure alone does not retry resets or statuses', () => {
  const p = new CompiledRetryPolicy({ ...base, retryOn: ['connect-failure'] });
  assert.equal(p.reasonForError(errors.upstreamConnect), 'connect-failure');
  assert.equal(p.reasonForError(errors.connectTimeout), 'connect-failure');
  assert.equal(p.reasonForError(errors.upstreamReset), null);
  assert.equal(p.reasonForStatus(503), null);
  assert.equal(p.retriesPerTryTimeout, false);
});

test('methods: idempotent ones only, unless nonIdempotent; never with maxRetries 0', () => {
  const p = new CompiledRetryPolicy({ ...base, retryOn: ['5xx'] });
  assert.equal(p.allowsMethod('GET'), true);
  assert.equal(p.allowsMethod('PUT'), true);
  assert.equal(p.allowsMethod('POST'), false);
  assert.equal(p.allowsMethod('PATCH'), false);
  assert.equal(new CompiledRetryPolicy({ ...base, retryOn: ['5xx'], nonIdempotent: true }).allowsMethod('POST'), true);
  assert.equal(new CompiledRetryPolicy({ ...base, maxRetries: 0, retryOn: ['5xx'] }).allowsMethod('GET'), false);
});
