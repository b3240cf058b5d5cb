import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/log.js';
import { JoinTokenStore } from '../../../src/control/auth/join-token-store.js';
import { CertificateAuthority, uriSans } from '../../../src/control/ca/ca-authority.js';
import { x509 } from '../../../src/control/ca/ca-crypto.js';
import { WorkloadIssuer } from '../../../src/control/ca/workload-issuer.js';
import { newKeyAndCsr, signWithKey } from '../../../src/proxy/identity/identity-crypto.js';

const hour = 3_600_000;

describe('WorkloadIssuer', () => {
  let dir = '';
  let now = Date.now();
  let tokens: JoinTokenStore;
  let issuer: WorkloadIssuer;
  let trustDomain = 'cluster.local';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-issuer-'));
    const ca = await CertificateAuthority.open({ dataDir: dir, now: () => now });
    tokens = await JoinTokenStore.open(dir, () => now);
    issuer = new WorkloadIssuer({ ca, tokens, dataDir: dir, trustDomain: () => trustDomain, ttlMs: hour, logger: createLogger('test', 'silent'), now: () => now });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const ask = async (service: string, token: string | null, extra: Record<string, unknown> = {}) => {
    const { csrPem, keyPem } = await newKeyAndCsr(service);
    return { out: await issuer.request({ proxyId: `${service}-1`, service, namespace: 'shop', csr: csrPem, ...extra }, token), keyPem, csrPem };
  };

  it('issues to a join token of the same service: SPIFFE id from the trust domain, the configured lifetime; records the expiry', async () => {
    const { token } = await tokens.create({ service: 'api', namespace: 'shop', ttlMs: hour });
    trustDomain = 'example.org';
    const { out } = await ask('api', token);
    trustDomain = 'cluster.local';
    assert.equal(out.status, 200);
    if (out.status !== 200) return;
    const cert = new x509.X509Certificate(out.body.certificatePem);
    assert.deepEqual(uriSans(cert), ['spiffe://example.org/ns/shop/svc/api']);
    assert.equal(cert.notAfter.getTime(), Math.floor((now + hour) / 1000) * 1000);
    assert.equal(issuer.certExpiry('api-1'), cert.notAfter.toISOString());
  });

  it('refuses a token of another service (403), a missing, revoked or expired one (401)', async () => {
    const { token, info } = await tokens.create({ service: 'api', namespace: 'shop', ttlMs: hour });
    const other = (await ask('billing', token)).out;
    assert.equal(other.status, 403);
    assert.match((other as { error: string }).error, /is for service "api"/);
    assert.equal(issuer.certExpiry('billing-1'), null);
    const otherNs = (await issuer.request({ proxyId: 'x', service: 'api', namespace: 'prod', csr: (await newKeyAndCsr('x')).csrPem }, token));
    assert.equal(otherNs.status, 403);
    assert.equal((await ask('api', null)).out.status, 401);

    await tokens.revoke(info.id);
    const revoked = (await ask('api', token)).out;
    assert.equal(revoked.status, 401);
    assert.match((revoked as { error: string }).error, /revoked/);

    const { token: short } = await tokens.create({ service: 'api', namespace: 'shop', ttlMs: 60_000 });
    now += 61_000;
    const expired = (await ask('api', short)).out;
    assert.equal(expired.status, 401);
    assert.match((expired as { error: string }).error, /expired/);
  });

  it('renews with the current certificate after the join token expired, not for another service, not without the key, not once the token is revoked', async () => {
    const { token, info } = await tokens.create({ service: 'web', namespace: 'shop', ttlMs: 60_000 });
    const first = await ask('web', token);
    assert.equal(first.out.status, 200);
    if (first.out.status !== 200) return;
    const certificate = first.out.body.certificatePem;
    now += 2 * 60_000;

    const { csrPem } = await newKeyAndCsr('web');
    const renewal = { certificate, signature: signWithKey(first.keyPem, csrPem) };
    const renewed = await issuer.request({ proxyId: 'web-1', service: 'web', namespace: 'shop', csr: csrPem, renewal }, null);
    assert.equal(renewed.status, 200);

    assert.equal((await issuer.request({ proxyId: 'web-1', service: 'api', namespace: 'shop', csr: csrPem, renewal }, null)).status, 403, 'the certificate names web');
    const strangerKey = (await newKeyAndCsr('x')).keyPem;
    const forged = await issuer.request({ proxyId: 'web-1', service: 'web', namespace: 'shop', csr: csrPem, renewal: { certificate, signature: signWithKey(strangerKey, csrPem) } }, null);
    assert.equal(forged.status, 401);

    await tokens.revoke(info.id);
    const afterRevoke = await issuer.request({ proxyId: 'web-1', service: 'web', namespace: 'shop', csr: csrPem, renewal }, null);
    assert.equal(afterRevoke.status, 403);
    assert.match((afterRevoke as { error: string }).error, /revoked/);

    now += 2 * hour;
    assert.equal((await issuer.request({ proxyId: 'web-1', service: 'web', namespace: 'shop', csr: csrPem, renewal }, null)).status, 401, 'an expired certificate cannot renew');
  });

  it('refuses malformed requests with 400', async () => {
    assert.equal((await issuer.request(null, null)).status, 400);
    assert.equal((await issuer.request({ proxyId: 'a', service: 'Bad_Name', csr: 'x' }, null)).status, 400);
    const { token } = await tokens.create({ service: 'api', namespace: 'shop', ttlMs: hour });
    assert.equal((await issuer.request({ proxyId: 'a', service: 'api', namespace: 'shop', csr: 'not a csr' }, token)).status, 400);
  });
});
