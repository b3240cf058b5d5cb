import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateAuthority, uriSans } from '../../../src/control/ca/ca-authority.js';
import { x509 } from '../../../src/control/ca/ca-crypto.js';
import { newKeyAndCsr } from '../../../src/proxy/identity/identity-crypto.js';

const spiffe = 'spiffe://cluster.local/ns/shop/svc/api';
const hour = 3_600_000;

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function issue(ca: CertificateAuthority, ttlMs = 24 * hour) {
  const { csrPem } = await newKeyAndCsr('api.shop');
  const r = await ca.issue({ csrPem, spiffeId: spiffe, ttlMs, commonName: 'api.shop' });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('CertificateAuthority', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-ca-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates an ECDSA P-256 root on first start with its key 0600, and reuses it afterwards', async () => {
    const data = path.join(dir, 'gen');
    const ca = await CertificateAuthority.open({ dataDir: data });
    assert.equal(ca.source, 'generated');
    const keyMode = (await stat(path.join(data, 'ca', 'ca-key.pem'))).mode & 0o777;
    assert.equal(keyMode, 0o600);
    const root = new X509Certificate(await readFile(path.join(data, 'ca', 'ca-cert.pem')));
    assert.equal(root.ca, true);
    assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(root.verify(root.publicKey), 'self-signed');
    const again = await CertificateAuthority.open({ dataDir: data });
    assert.equal(again.rootFingerprint, ca.rootFingerprint);
    assert.equal(again.trustBundle.roots().length, 1, 'the root is not added twice');
  });

  it('issues a certificate with the SPIFFE id as its only SAN, the asked lifetime and leaf key usages; openssl verifies it', async () => {
    const data = path.join(dir, 'gen');
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
    const ca = await CertificateAuthority.open({ dataDir: data, now: () => t0 });
    const cert = await issue(ca, 5 * 60_000);
    assert.equal(cert.notAfter.getTime(), t0 + 5 * 60_000);
    assert.ok(cert.notBefore.getTime() <= t0 && cert.notBefore.getTime() >= t0 - 60_000, 'backdated by at most a minute');
    const parsed = new x509.X509Certificate(cert.certificatePem);
    assert.deepEqual(uriSans(parsed), [spiffe]);
    const san = parsed.getExtension(x509.SubjectAlternativeNameExtension)!;
    assert.equal(san.names.items.length, 1);
    assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.ca, false);
    const ku = parsed.getExtension(x509.KeyUsagesExtension)!;
    assert.ok(ku.critical && ku.usages & x509.KeyUsageFlags.digitalSignature);
    assert.equal(ku.usages & x509.KeyUsageFlags.keyCertSign, 0);
    assert.deepEqual([...parsed.getExtension(x509.ExtendedKeyUsageExtension)!.usages].sort(), [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth].sort());
    assert.deepEqual(cert.chainPems, []);

    // openssl checks against the real time: a fresh one-day certificate
    const live = await issue(await CertificateAuthority.open({ dataDir: data }));
    await writeFile(path.join(dir, 'leaf.pem'), live.certificatePem);
    await writeFile(path.join(dir, 'bundle.pem'), live.trustBundlePems.join(''));
    assert.match(openssl(['verify', '-CAfile', 'bundle.pem', '-purpose', 'sslserver', 'leaf.pem'], dir), /leaf.pem: OK/);
    assert.match(openssl(['verify', '-CAfile', 'bundle.pem', '-purpose', 'sslclient', 'leaf.pem'], dir), /leaf.pem: OK/);
  });

  it('refuses a CSR whose signature does not match its key, and one that is not P-256', async () => {
    const ca = await CertificateAuthority.open({ dataDir: path.join(dir, 'gen') });
    const { csrPem } = await newKeyAndCsr('x');
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const bad = await ca.issue({ csrPem: tampered, spiffeId: spiffe, ttlMs: hour, commonName: 'x' });
    assert.equal(bad.ok, false);
    openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', 'p384.key'], dir);
    const p384 = openssl(['req', '-new', '-key', 'p384.key', '-subj', '/CN=x'], dir);
    const wrongCurve = await ca.issue({ csrPem: p384, spiffeId: spiffe, ttlMs: hour, commonName: 'x' });
    assert.ok(!wrongCurve.ok && /P-256/.test(wrongCurve.error), JSON.stringify(wrongCurve));
  });

  it('signs with an operator intermediate under a corporate root: the chain is served and openssl verifies it', async () => {
    const ext = path.join(dir, 'int.ext');
    await writeFile(ext, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'corp-root.key'], dir);
    openssl(['req', '-x509', '-new', '-key', 'corp-root.key', '-subj', '/O=Corp/CN=Corp Root', '-days', '30', '-out', 'corp-root.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'int.key'], dir);
    openssl(['req', '-new', '-key', 'int.key', '-subj', '/O=Corp/CN=Mesh Intermediate', '-out', 'int.csr'], dir);
    openssl(['x509', '-req', '-in', 'int.csr', '-CA', 'corp-root.pem', '-CAkey', 'corp-root.key', '-CAcreateserial', '-days', '30', '-out', 'int.pem', '-extfile', ext], dir);
    await writeFile(path.join(dir, 'int-chain.pem'), (await readFile(path.join(dir, 'int.pem'), 'utf8')) + (await readFile(path.join(dir, 'corp-root.pem'), 'utf8')));

    const ca = await CertificateAuthority.open({ dataDir: path.join(dir, 'op'), certFile: path.join(dir, 'int-chain.pem'), keyFile: path.join(dir, 'int.key') });
    assert.equal(ca.source, 'operator');
    const cert = await issue(ca);
    assert.equal(cert.chainPems.length, 1, 'the intermediate is served');
    assert.equal(cert.trustBundlePems.length, 1);
    assert.equal(new X509Certificate(cert.trustBundlePems[0]).subject, 'O=Corp\nCN=Corp Root');
    await writeFile(path.join(dir, 'op-leaf.pem'), cert.certificatePem);
    await writeFile(path.join(dir, 'op-chain.pem'), cert.chainPems.join(''));
    assert.match(openssl(['verify', '-CAfile', 'corp-root.pem', '-untrusted', 'op-chain.pem', 'op-leaf.pem'], dir), /op-leaf.pem: OK/);
    assert.throws(() => openssl(['verify', '-CAfile', 'corp-root.pem', 'op-leaf.pem'], dir), 'without the served chain it does not verify');
    assert.ok((await ca.verifyIssued(cert.certificatePem)).ok);

    await assert.rejects(CertificateAuthority.open({ dataDir: path.join(dir, 'op2'), certFile: path.join(dir, 'int.pem'), keyFile: path.join(dir, 'int.key') }), /must end with the self-signed root/);
    await assert.rejects(CertificateAuthority.open({ dataDir: path.join(dir, 'op3'), certFile: path.join(dir, 'int-chain.pem'), keyFile: path.join(dir, 'corp-root.key') }), /does not belong/);
    await assert.rejects(CertificateAuthority.open({ dataDir: path.join(dir, 'op4'), certFile: path.join(dir, 'int-chain.pem') }), /go together/);
  });

  it('trust bundle with two roots: certificates of the old and the new root both verify, until the old is removed', async () => {
    const oldCa = await CertificateAuthority.open({ dataDir: path.join(dir, 'rot') });
    const oldLeaf = await issue(oldCa);
    const newCa = await CertificateAuthority.open({ dataDir: path.join(dir, 'rot-new') });
    // rotation: add the new root first, then switch the CA to it (here: a CA whose bundle is the same file)
    await oldCa.trustBundle.add(newCa.trustBundle.pems()[0]);
    const switched = await CertificateAuthority.open({ dataDir: path.join(dir, 'rot'), certFile: path.join(dir, 'rot-new', 'ca', 'ca-cert.pem'), keyFile: path.join(dir, 'rot-new', 'ca', 'ca-key.pem') });
    const newLeaf = await issue(switched);
    assert.equal(newLeaf.trustBundlePems.length, 2);
    await writeFile(path.join(dir, 'two.pem'), newLeaf.trustBundlePems.join(''));
    await writeFile(path.join(dir, 'old-leaf.pem'), oldLeaf.certificatePem);
    await writeFile(path.join(dir, 'new-leaf.pem'), newLeaf.certificatePem);
    assert.match(openssl(['verify', '-CAfile', 'two.pem', 'old-leaf.pem', 'new-leaf.pem'], dir), /old-leaf.pem: OK\nnew-leaf.pem: OK/);
    assert.ok((await switched.verifyIssued(oldLeaf.certificatePem)).ok, 'a certificate of the old root may still renew');

    assert.equal(await switched.trustBundle.remove(oldCa.rootFingerprint), true);
    const after = await CertificateAuthority.open({ dataDir: path.join(dir, 'rot'), certFile: path.join(dir, 'rot-new', 'ca', 'ca-cert.pem'), keyFile: path.join(dir, 'rot-new', 'ca', 'ca-key.pem') });
    assert.deepEqual(after.trustBundle.roots().map((r) => r.fingerprint), [switched.rootFingerprint]);
    await writeFile(path.join(dir, 'one.pem'), after.trustBundle.pems().join(''));
    assert.throws(() => openssl(['verify', '-CAfile', 'one.pem', 'old-leaf.pem'], dir));
    assert.equal((await after.verifyIssued(oldLeaf.certificatePem)).ok, false);
  });
});
