import assert from 'node:assert/strict';
import { it } from 'node:test';
import { certificateCheck } from '../../src/cli/command-check.js';

const t0 = Date.UTC(2026, 0, 1);
const hour = 3_600_000;
const proxy = (id: string, issuedAgoH: number | null, lifeH = 24) => issuedAgoH === null
  ? { id, certExpiry: null, certIssuedAt: null }
  : { id, certIssuedAt: new Date(t0 - issuedAgoH * hour).toISOString(), certExpiry: new Date(t0 + (lifeH - issuedAgoH) * hour).toISOString() };

it('certificates: fine with more than a third of life left, a warning below, a failure once expired', () => {
  assert.deepEqual(certificateCheck([proxy('a', 1), proxy('b', null)], t0), { name: 'certificates', ok: true, detail: '1 valid; 1 without identity' });
  const close = certificateCheck([proxy('a', 1), proxy('b', 17)], t0);
  assert.equal(close.ok, true);
  assert.equal(close.warning, true);
  assert.match(close.detail, /close to expiry.*b \(expires/);
  const expired = certificateCheck([proxy('a', 17), proxy('c', 25)], t0);
  assert.equal(expired.ok, false);
  assert.match(expired.detail, /expired: c .*close to expiry: a/);
});
