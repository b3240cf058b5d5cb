import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createLogger } from '../../../src/common/log.js';
import { JoinTokenStore } from '../../../src/control/auth/join-token-store.js';
import { XdsAuthenticator, type XdsAuthDecision, type XdsCredentialHeaders } from '../../../src/control/auth/xds-auth.js';
import { SeenProofs } from '../../../src/control/auth/xds-proof-replay.js';
import { CertificateAuthority } from '../../../src/control/ca/ca-authority.js';
import { WorkloadIssuer } from '../../../src/control/ca/workload-issuer.js';
import { newKeyAndCsr } from '../../../src/proxy/identity/identity-crypto.js';
import { adsCredentials } from '../../../src/proxy/xds/ads-credentials.js';
import { xdsCertHeader, xdsProofHeader, xdsProofPayload, xdsProofTimeHeader } from '../../../src/xds/xds-credentials.js';

const hour = 3_600_000;
const shopApi = { service: 'api', namespace: 'shop' };

describe('XdsAuthenticator', () => {
  let dir = '';
  let now = Date.now();
  let tokens: JoinTokenStore;
  let issuer: WorkloadIssuer;
  let required: XdsAuthenticator;
  let optional: XdsAuthenticator;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-xds-auth-'));
    const ca = await CertificateAuthority.open({ dataDir: dir, now: () => now });
    tokens = await JoinTokenStore.open(dir, () => now);
    issuer = new WorkloadIssuer({ ca, tokens, dataDir: dir, trustDomain: () => 'cluster.local', ttlMs: hour, logger: createLogger('test', 'silent'), now: () => now });
    required = new XdsAuthenticator({ mode: 'required', tokens, possession: issuer, now: () => now });
    optional = new XdsAuthenticator({ mode: 'optional', tokens, possession: issuer, now: () => now });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A certificate for api.shop issued through a fresh join token, with its key. */
  const certify = async (service = 'api') => {
    const { token, info } = await tokens.create({ service, namespace: 'shop', ttlMs: hour });
    const { csrPem, keyPem } = await newKeyAndCsr(service);
    const out = await issuer.request({ proxyId: `${service}-1`, service, namespace: 'shop', csr: csrPem }, token);
    assert.equal(out.status, 200);
    if (out.status !== 200) throw new Error('not issued');
    return { certificatePem: out.body.certificatePem, keyPem, tokenId: info.id };
  };
  const proof = (certificatePem: string, keyPem: string, time = now): XdsCredentialHeaders => ({
    [xdsCertHeader]: Buffer.from(certificatePem).toString('base64'),
    [xdsProofHeader]: sign('sha256', xdsProofPayload(time), keyPem).toString('base64'),
    [xdsProofTimeHeader]: String(time),
  });
  const refused = (d: XdsAuthDecision, code: number, message: RegExp) => {
    assert.equal(d.ok, false, 'expected a refusal');
    if (d.ok) return;
    assert.equal(d.code, code);
    assert.match(d.message, message);
  };

  it('admits a valid join token for its own service; the stream refuses a Node of another service', async () => {
    const { token, info } = await tokens.create({ ...shopApi, ttlMs: hour });
    const d = await required.authenticate({ authorization: `Bearer ${token}` });
    assert.ok(d.ok && d.principal);
    assert.deepEqual({ via: d.principal.via, service: d.principal.service, namespace: d.principal.namespace }, { via: 'join-token', ...shopApi });
    assert.equal(XdsAuthenticator.mismatch(d.principal, shopApi), null);
    assert.match(XdsAuthenticator.mismatch(d.principal, { service: 'billing', namespace: 'shop' }) ?? '', new RegExp(`join token ${info.id} is for service "api" in namespace "shop", not "billing" in "shop"`));
    assert.ok(XdsAuthenticator.mismatch(d.principal, { service: 'api', namespace: 'prod' }));
  });

  it('refuses an unknown, malformed, revoked or expired join token with UNAUTHENTICATED', async () => {
    refused(await optional.authenticate({ authorization: 'Bearer trellis-join.000000000000.AAAAAAAAAAAAAAAAAAAAAAAA' }), status.UNAUTHENTICATED, /not valid/);
    refused(await optional.authenticate({ authorization: 'Basic abc' }), status.UNAUTHENTICATED, /Bearer/);
    const revoked = await tokens.create({ ...shopApi, ttlMs: hour });
    await tokens.revoke(revoked.info.id);
    refused(await optional.authenticate({ authorization: `Bearer ${revoked.token}` }), status.UNAUTHENTICATED, /revoked/);
    const expiring = await tokens.create({ ...shopApi, ttlMs: 60_000 });
    now += 120_000;
    try {
      refused(await required.authenticate({ authorization: `Bearer ${expiring.token}` }), status.UNAUTHENTICATED, /expired/);
    } finally {
      now -= 120_000;
    }
  });

  it('missing credentials: refused when required, admitted unauthenticated when optional', async () => {
    refused(await required.authenticate({}), status.UNAUTHENTICATED, /requires credentials/);
    assert.deepEqual(await optional.authenticate({}), { ok: true, principal: null });
  });

  it('admits a fresh proof of a mesh certificate; the SPIFFE id must match the Node', async () => {
    const { certificatePem, keyPem } = await certify();
    const d = await required.authenticate(proof(certificatePem, keyPem, now - 60_000));
    assert.ok(d.ok && d.principal);
    assert.equal(d.principal.via, 'certificate');
    assert.equal(d.principal.subject, 'certificate spiffe://cluster.local/ns/shop/svc/api');
    assert.equal(XdsAuthenticator.mismatch(d.principal, shopApi), null);
    // the certificate is api's: it cannot pass for billing
    assert.match(XdsAuthenticator.mismatch(d.principal, { service: 'billing', namespace: 'shop' }) ?? '', /spiffe:\/\/cluster.local\/ns\/shop\/svc\/api is for service "api"/);
  });

  it('refuses a stale or future timestamp, a forged signature, a partial proof and a foreign certificate', async () => {
    const { certificatePem, keyPem } = await certify();
    refused(await optional.authenticate(proof(certificatePem, keyPem, now - 6 * 60_000)), status.UNAUTHENTICATED, /360s old/);
    refused(await optional.authenticate(proof(certificatePem, keyPem, now + 6 * 60_000)), status.UNAUTHENTICATED, /in the future/);
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    refused(await optional.authenticate(proof(certificatePem, other)), status.UNAUTHENTICATED, /does not prove possession/);
    // a signature over another time than the one sent
    refused(await optional.authenticate({ ...proof(certificatePem, keyPem, now - 1000), [xdsProofTimeHeader]: String(now) }), status.UNAUTHENTICATED, /does not prove possession/);
    refused(await optional.authenticate({ [xdsCertHeader]: Buffer.from(certificatePem).toString('base64') }), status.UNAUTHENTICATED, /needs/);
    // a certificate from another CA
    const foreignDir = await mkdtemp(path.join(tmpdir(), 'trellis-xds-auth-foreign-'));
    try {
      const foreignCa = await CertificateAuthority.open({ dataDir: foreignDir });
      const foreignTokens = await JoinTokenStore.open(foreignDir);
      const foreignIssuer = new WorkloadIssuer({ ca: foreignCa, tokens: foreignTokens, dataDir: foreignDir, trustDomain: () => 'cluster.local', logger: createLogger('test', 'silent') });
      const { token } = await foreignTokens.create({ ...shopApi, ttlMs: hour });
      const { csrPem, keyPem: foreignKey } = await newKeyAndCsr('api');
      const out = await foreignIssuer.request({ proxyId: 'api-x', ...shopApi, csr: csrPem }, token);
      assert.equal(out.status, 200);
      if (out.status === 200) refused(await optional.authenticate(proof(out.body.certificatePem, foreignKey)), status.UNAUTHENTICATED, /certificate proof refused/);
    } finally {
      await rm(foreignDir, { recursive: true, force: true });
    }
  });

  it('refuses an expired certificate, and one whose admitting join token was revoked (PERMISSION_DENIED)', async () => {
    const expiring = await certify();
    now += 2 * hour;
    try {
      refused(await optional.authenticate(proof(expiring.certificatePem, expiring.keyPem)), status.UNAUTHENTICATED, /not valid now/);
    } finally {
      now -= 2 * hour;
    }
    const revoked = await certify();
    await tokens.revoke(revoked.tokenId);
    refused(await required.authenticate(proof(revoked.certificatePem, revoked.keyPem)), status.PERMISSION_DENIED, /revoked/);
  });

  it('a certificate proof opens one stream: replayed, it is refused with UNAUTHENTICATED; a fresh one is accepted', async () => {
    const { certificatePem, keyPem } = await certify();
    const captured = proof(certificatePem, keyPem, now - 1000);
    assert.ok((await required.authenticate(captured)).ok, 'the first use');
    refused(await required.authenticate(captured), status.UNAUTHENTICATED, /already used/);
    // the same time signed again (a new signature, or the (r, n - s) twin of the old one) is the same proof
    refused(await required.authenticate(proof(certificatePem, keyPem, now - 1000)), status.UNAUTHENTICATED, /already used/);
    assert.ok((await required.authenticate(proof(certificatePem, keyPem, now - 999))).ok, 'a fresh proof of the same certificate');
    // two streams racing with one proof: only one passes
    const raced = proof(certificatePem, keyPem, now - 500);
    const both = await Promise.all([required.authenticate(raced), required.authenticate(raced)]);
    assert.deepEqual(both.map((d) => d.ok).sort(), [false, true]);
  });

  it('used proofs are remembered until their time leaves the window, within a bounded memory', () => {
    let clock = 1_000_000;
    const seen = new SeenProofs({ windowMs: 300_000, maxEntries: 3, now: () => clock });
    const key = (t: number) => SeenProofs.key('cert', t);
    assert.equal(seen.remember(key(clock), clock), 'fresh');
    assert.equal(seen.remember(key(clock), clock), 'replayed');
    assert.notEqual(SeenProofs.key('other cert', clock), key(clock), 'another certificate at the same time is another proof');
    assert.equal(seen.remember(key(clock + 100_000), clock + 100_000), 'fresh', 'a proof from the future stays until its own time leaves the window');
    assert.equal(seen.remember(key(clock - 1), clock - 1), 'fresh');
    assert.equal(seen.remember(key(clock + 1), clock + 1), 'full', 'at the cap nothing is forgotten early: refused instead');
    clock += 300_001;
    assert.equal(seen.seen(key(1_000_000)), false, 'past the window (the time check refuses it by then)');
    assert.equal(seen.seen(key(1_100_000)), true);
    assert.equal(seen.remember(key(clock), clock), 'fresh', 'the expired ones were forgotten to make room');
    assert.equal(seen.size, 2);
  });

  it('the cap refuses with RESOURCE_EXHAUSTED, never admits a replay', async () => {
    const capped = new XdsAuthenticator({ mode: 'required', tokens, possession: issuer, now: () => now, seenProofs: new SeenProofs({ windowMs: 300_000, maxEntries: 1, now: () => now }) });
    const { certificatePem, keyPem } = await certify();
    assert.ok((await capped.authenticate(proof(certificatePem, keyPem, now - 2))).ok);
    refused(await capped.authenticate(proof(certificatePem, keyPem, now - 1)), status.RESOURCE_EXHAUSTED, /too many certificate proofs/);
    refused(await capped.authenticate(proof(certificatePem, keyPem, now - 2)), status.UNAUTHENTICATED, /already used/);
  });

  it("the sidecar's credentials: proof while it holds a valid certificate (fresh per stream), else its token", async () => {
    const { certificatePem, keyPem } = await certify();
    const { token } = await tokens.create({ ...shopApi, ttlMs: hour });
    let held: { certificatePem: string; keyPem: string; notAfter: Date } | null = null;
    let clock = now;
    const credentials = adsCredentials({ token, certificate: () => held, now: () => clock });
    assert.deepEqual(credentials(), { authorization: `Bearer ${token}` });
    assert.deepEqual(adsCredentials({ certificate: () => null })(), {});
    held = { certificatePem, keyPem, notAfter: new Date(now + hour) };
    const first = credentials();
    assert.equal(first.authorization, undefined);
    assert.equal(first[xdsProofTimeHeader], String(now));
    const d = await required.authenticate(first);
    assert.ok(d.ok && d.principal?.via === 'certificate');
    // a reconnect in the same millisecond (or after the clock stepped back) still makes a fresh proof
    const again = credentials();
    assert.equal(again[xdsProofTimeHeader], String(now + 1));
    assert.ok((await required.authenticate(again)).ok, 'accepted: not a replay of the first');
    clock = now - 5000;
    assert.equal(credentials()[xdsProofTimeHeader], String(now + 2));
    clock = now + 1000;
    assert.equal(credentials()[xdsProofTimeHeader], String(now + 1000));
    // an expired certificate is not offered: the token is
    held = { certificatePem, keyPem, notAfter: new Date(now) };
    assert.deepEqual(credentials(), { authorization: `Bearer ${token}` });
  });
});
