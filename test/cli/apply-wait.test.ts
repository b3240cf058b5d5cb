// Which proxies `apply --wait` still waits for, and when it gives up at once (a NACK).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pendingProxies, type ProxyProgress } from '../../src/cli/apply-wait.js';

const row = (id: string, p: Partial<ProxyProgress>): ProxyProgress => ({
  id, connected: true, ackedRevision: null, sentRevision: null, ackedVersion: null, sentVersion: null, lastNack: null, ...p,
});

test('a proxy is done once its ACKed snapshot reflects the revision; disconnected ones are not waited for', () => {
  const rows = [
    row('a', { ackedRevision: 7, sentRevision: 7, ackedVersion: '3', sentVersion: '3' }),
    row('b', { ackedRevision: 9, sentRevision: 9 }),
    row('c', { ackedRevision: 6, sentRevision: 7, ackedVersion: '2', sentVersion: '3' }),
    row('d', { connected: false, ackedRevision: 1 }),
  ];
  assert.deepEqual(pendingProxies(rows, 7).map((p) => [p.id, p.nacked]), [['c', false]]);
  assert.match(pendingProxies(rows, 7)[0].reason, /has ACKed revision 6 \(sent 7\)/);
});

test('a NACK of the version that carries the revision fails the wait; an older NACK does not', () => {
  const nack = { version: '4', error: 'unknown typed extension' };
  const nacked = pendingProxies([row('a', { ackedRevision: 6, sentRevision: 7, ackedVersion: '3', sentVersion: '4', lastNack: nack })], 7);
  assert.deepEqual(nacked.map((p) => p.nacked), [true]);
  assert.match(nacked[0].reason, /rejected version 4 \(NACK\): unknown typed extension/);
  // a newer version is on its way (sent 5): the old NACK says nothing about it
  assert.deepEqual(pendingProxies([row('a', { ackedRevision: 6, sentRevision: 8, ackedVersion: '3', sentVersion: '5', lastNack: nack })], 8).map((p) => p.nacked), [false]);
});
