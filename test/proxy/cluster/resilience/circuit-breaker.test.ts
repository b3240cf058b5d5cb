import test from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type IdleEvictable, type PendingWaiter } from '../../../../src/proxy/cluster/resilience/circuit-breaker.js';

const limits = { maxConnections: 2, maxPendingRequests: 2, maxRequests: 3, maxRetries: 1 };

test('active requests and retries stop at their limits and free their slots', () => {
  const cb = new CircuitBreaker(() => limits);
  assert.ok(cb.tryStartRequest() && cb.tryStartRequest() && cb.tryStartRequest());
  assert.equal(cb.tryStartRequest(), false);
  cb.endRequest();
  assert.equal(cb.tryStartRequest(), true);
  assert.equal(cb.tryStartRetry(), true);
  assert.equal(cb.tryStartRetry(), false);
  cb.endRetry();
  assert.equal(cb.tryStartRetry(), true);
});

test('limits are read on each check, so a pushed config applies at once', () => {
  let l = { ...limits, maxRequests: 1 };
  const cb = new CircuitBreaker(() => l);
  assert.equal(cb.tryStartRequest(), true);
  assert.equal(cb.tryStartRequest(), false);
  l = { ...limits, maxRequests: 5 };
  assert.equal(cb.tryStartRequest(), true);
});

test('connections: at the limit a request waits; the pending queue is bounded and FIFO', () => {
  const cb = new CircuitBreaker(() => limits);
  assert.ok(cb.tryOpenConnection() && cb.tryOpenConnection());
  assert.equal(cb.tryOpenConnection(), false);
  const woken: string[] = [];
  const waiter = (name: string): PendingWaiter => ({ connectionAvailable: () => woken.push(name) });
  const a = waiter('a');
  const b = waiter('b');
  assert.equal(cb.enqueue(a), true);
  assert.equal(cb.enqueue(b), true);
  assert.equal(cb.enqueue(waiter('c')), false, 'over maxPendingRequests');
  assert.equal(cb.pendingRequests, 2);
  cb.connectionIdle();
  assert.deepEqual(woken, ['a']);
  cb.remove(b);
  assert.equal(cb.pendingRequests, 0);
  cb.connectionClosed();
  assert.deepEqual(woken, ['a'], 'a removed waiter is never woken');
  assert.equal(cb.connections, 1);
});

test('at the connection limit an idle socket elsewhere is closed to make room', () => {
  const cb = new CircuitBreaker(() => limits);
  let idle = 1;
  const pool: IdleEvictable = {
    closeOldestIdle: () => {
      if (idle === 0) return false;
      idle--;
      cb.connectionClosed();
      return true;
    },
  };
  cb.track(pool);
  assert.ok(cb.tryOpenConnection() && cb.tryOpenConnection());
  const woken: string[] = [];
  cb.enqueue({ connectionAvailable: () => woken.push('w') });
  assert.equal(cb.tryOpenConnection(), true, 'the idle one made room');
  assert.equal(cb.connections, 2);
  assert.deepEqual(woken, [], 'the freed slot went to the opener, not to a waiter');
  assert.equal(cb.tryOpenConnection(), false);
});
