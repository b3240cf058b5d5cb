import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapGrantVerifier } from '../../../src/proxy/telemetry/tap-grant-verifier.js';
import { tapGrantLifetimeMs, tapGrantSkewMs } from '../../../src/xds/tap-grant.js';
import { testTapSigner, verifierTrusting } from './tap-grant-support.js';

const target = '/tap?direction=inbound&max=5';
const reasonOf = (c: ReturnType<TapGrantVerifier['check']>) => (c.ok ? 'ok' : `${c.status} ${c.reason}`);

test('a grant from the control plane opens the tap once, for this sidecar and this request only', async () => {
  const signer = testTapSigner();
  const v = verifierTrusting(signer, 'api-1');
  const grant = await signer.authorization('api-1', target);
  assert.equal(reasonOf(v.check(grant, target)), 'ok');
  assert.equal(reasonOf(v.check(grant, target)), '403 replayed', 'each grant opens one tap');
  assert.equal(reasonOf(v.check(await signer.authorization('web-1', target), target)), '403 wrong-proxy');
  assert.equal(reasonOf(v.check(await signer.authorization('api-1', target), '/tap?direction=inbound')), '403 wrong-target', 'filters cannot be changed under a grant');
  assert.equal(reasonOf(v.check(await signer.authorization('api-1', target), target)), 'ok', 'a fresh grant works');
});

test('without a grant 401; with a forged, tampered, foreign or malformed one 403; each says why', async () => {
  const signer = testTapSigner();
  const v = verifierTrusting(signer, 'api-1');
  const none = v.check(undefined, target);
  assert.equal(reasonOf(none), '401 missing-grant');
  assert.match((none as { message: string }).message, /trellis tap SERVICE/);
  assert.equal(reasonOf(v.check('Bearer trellis-admin.x', target)), '401 missing-grant', 'an API token is not a grant');
  assert.equal(reasonOf(v.check(await testTapSigner().authorization('api-1', target), target)), '403 unknown-key');
  assert.equal(reasonOf(v.check('Trellis-Tap not-a-grant', target)), '403 malformed');

  // the payload changed after signing (another proxy written in): the signature no longer holds
  const [scheme, grant] = (await signer.authorization('api-1', target)).split(' ');
  const [payload, sig] = grant.split('.');
  const altered = JSON.parse(Buffer.from(payload, 'base64url').toString());
  altered.target = '/tap';
  const forged = `${scheme} ${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${sig}`;
  assert.equal(reasonOf(v.check(forged, '/tap')), '403 bad-signature');

  const unready = new TapGrantVerifier({ proxyId: () => 'api-1' });
  assert.equal(reasonOf(unready.check(await signer.authorization('api-1', target), target)), '403 no-signer', 'no key learned yet: nothing opens');
  assert.throws(() => unready.learnSigner(Buffer.from('nope').toString('base64')));
});

test('grants expire: a lifetime plus the clock skew, and not before their time either', async () => {
  let now = Date.UTC(2026, 11, 6, 12, 0, 0);
  const signerClock = { now };
  const signer = testTapSigner(() => signerClock.now);
  const v = verifierTrusting(signer, 'api-1', () => now);
  const grant = await signer.authorization('api-1', target);
  now += tapGrantLifetimeMs + tapGrantSkewMs + 1;
  const late = v.check(grant, target);
  assert.equal(reasonOf(late), '403 expired');
  assert.match((late as { message: string }).message, /check the clocks/);

  // a control plane whose clock runs far ahead signs grants that are not valid yet here
  signerClock.now = now + 5 * 60_000;
  assert.equal(reasonOf(v.check(await signer.authorization('api-1', target), target)), '403 expired');
  // within the skew both ways: accepted
  signerClock.now = now + tapGrantSkewMs / 2;
  assert.equal(reasonOf(v.check(await signer.authorization('api-1', target), target)), 'ok');
});
