// The control plane's certificate authority: a root it creates on first start (ECDSA P-256,
// key 0600 in the data dir), or a root or intermediate the operator provides. It signs short
// lived workload certificates whose only name is a SPIFFE id URI SAN.
import { webcrypto } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { readOptionalFile, writeSecretFile } from '../auth/secret-file.js';
import {
  certificateToPem, ecdsaP256, fingerprint, generateP256, isSelfSigned, newSerialNumber, parseCertificates,
  privateKeyFromPem, privateKeyToEncryptedPem, privateKeyToPem, x509,
} from './ca-crypto.js';
import { TrustBundle, type TrustRoot } from './ca-trust-bundle.js';
import type { EtcdRecords } from '../store/etcd-records.js';

export const CA_DIR_NAME = 'ca';
const rootLifetimeMs = 10 * 365 * 24 * 3_600_000;
/** Certificates start a little in the past so a peer whose clock is slightly behind accepts them. */
const backdateMs = 60_000;

/** The generated root as every replica on one etcd shares it (`<prefix>identity/ca/root`). */
export interface SharedCaRoot {
  certPem: string;
  /** PKCS#8 PEM; encrypted with the operator's passphrase when `encrypted`. */
  keyPem: string;
  encrypted: boolean;
  createdAt: string;
}

export interface SharedCa {
  root: EtcdRecords<SharedCaRoot>;
  trust: EtcdRecords<TrustRoot>;
  /** Encrypts the root key in etcd (and is needed to read it back); without it the key is stored unencrypted. */
  passphrase?: string;
}

export interface CaOptions {
  dataDir: string;
  /** With an etcd store: one root for every replica, created by the first (checked-and-set), and one trust bundle. */
  shared?: SharedCa;
  /** PEM: the signing certificate first, then any intermediates, then the root. */
  certFile?: string;
  keyFile?: string;
  now?: () => number;
}

export interface IssueRequest { csrPem: string; spiffeId: string; ttlMs: number; commonName: string }

export interface IssuedCertificate {
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  certificatePem: string;
  /** Intermediates from the issuer up to, not including, the root; empty when the root signs. */
  chainPems: string[];
  trustBundlePems: string[];
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export interface VerifiedCertificate { spiffeId: string; serial: string; notAfter: Date }

export class CertificateAuthority {
  private constructor(
    readonly source: 'generated' | 'operator',
    readonly signingCertificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    readonly chainPems: string[],
    readonly trustBundle: TrustBundle,
    private readonly now: () => number,
    /** The root the signing certificate chains to: it cannot leave the trust bundle while in use. */
    readonly rootFingerprint: string,
  ) {}

  static async open(opts: CaOptions): Promise<CertificateAuthority> {
    const now = opts.now ?? Date.now;
    const dir = path.join(opts.dataDir, CA_DIR_NAME);
    const bundle = opts.shared ? TrustBundle.shared(opts.shared.trust) : await TrustBundle.load(path.join(dir, 'trust-bundle.pem'));
    if (!!opts.certFile !== !!opts.keyFile) throw new Error('--ca-cert and --ca-key go together: give both or neither');
    let source: 'generated' | 'operator';
    let chain: x509.X509Certificate[];
    let key: CryptoKey;
    if (opts.certFile && opts.keyFile) {
      source = 'operator';
      ({ chain, key } = await loadOperatorCa(opts.certFile, opts.keyFile));
    } else if (opts.shared) {
      source = 'generated';
      ({ chain, key } = await loadOrCreateSharedRoot(opts.shared, now));
    } else {
      source = 'generated';
      ({ chain, key } = await loadOrCreateRoot(dir, now));
    }
    const root = chain[chain.length - 1];
    // the CA's own root is always trusted; older roots stay until the operator removes them
    await bundle.add(certificateToPem(root));
    const intermediates = chain.slice(0, -1).map(certificateToPem);
    return new CertificateAuthority(source, chain[0], key, intermediates, bundle, now, await fingerprint(root));
  }

  /** The signing certificate's public key (SPKI, DER): what verifies signDetached. */
  get signingPublicKeySpki(): Buffer {
    return Buffer.from(this.signingCertificate.publicKey.rawData);
  }

  /**
   * Signs bytes that are not a certificate (tap grants, src/xds/tap-grant.ts): ECDSA P-256 /
   * SHA-256, r‖s. Callers prefix a domain string, so what is signed can never pass for a
   * certificate or a CSR (DER, starting 0x30).
   */
  async signDetached(data: Uint8Array): Promise<Buffer> {
    if (data[0] === 0x30) throw new Error('signDetached refuses DER-looking data: prefix it with a domain string');
    return Buffer.from(await webcrypto.subtle.sign(ecdsaP256, this.signingKey as webcrypto.CryptoKey, data));
  }

  /** Signs the CSR's public key (after checking the CSR's own signature: proof the requester holds the key). */
  async issue(req: IssueRequest): Promise<Result<IssuedCertificate>> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(req.csrPem);
    } catch (err) {
      return { ok: false, error: `the CSR is not a PEM PKCS#10 request: ${(err as Error).message}` };
    }
    if (!(await csr.verify().catch(() => false))) return { ok: false, error: 'the CSR signature does not verify' };
    const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') return { ok: false, error: `the CSR key must be ECDSA P-256, got ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}` };
    const nowMs = this.now();
    const notBefore = new Date(Math.floor((nowMs - Math.min(backdateMs, req.ttlMs / 10)) / 1000) * 1000);
    const notAfter = new Date(Math.min(Math.floor((nowMs + req.ttlMs) / 1000) * 1000, this.signingCertificate.notAfter.getTime()));
    const serial = newSerialNumber();
    const publicKey = await csr.publicKey.export();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `O=trellis, CN=${req.commonName}`,
      issuer: this.signingCertificate.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ecdsaP256,
      publicKey,
      signingKey: this.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: req.spiffeId }], true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.signingCertificate),
      ],
    });
    return {
      ok: true,
      value: {
        spiffeId: req.spiffeId, serial, notBefore, notAfter,
        certificatePem: certificateToPem(cert),
        chainPems: [...this.chainPems],
        trustBundlePems: this.trustBundle.pems(),
      },
    };
  }

  /** A workload certificate this CA, or a root of the trust bundle, issued and that is valid now. */
  async verifyIssued(pem: string): Promise<Result<VerifiedCertificate>> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(pem);
    } catch (err) {
      return { ok: false, error: `not a PEM certificate: ${(err as Error).message}` };
    }
    const now = this.now();
    if (now < cert.notBefore.getTime() || now > cert.notAfter.getTime()) return { ok: false, error: `the certificate is not valid now (valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()})` };
    const issuers = [this.signingCertificate, ...parseCertificates(this.trustBundle.pems().join(''))];
    let signed = false;
    for (const issuer of issuers) {
      if (issuer.subject !== cert.issuer) continue;
      if (await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false)) {
        signed = true;
        break;
      }
    }
    if (!signed) return { ok: false, error: 'the certificate was not issued by this mesh' };
    const spiffeId = uriSans(cert).find((u) => u.startsWith('spiffe://'));
    if (!spiffeId) return { ok: false, error: 'the certificate has no SPIFFE id' };
    return { ok: true, value: { spiffeId, serial: cert.serialNumber, notAfter: cert.notAfter } };
  }
}

export function uriSans(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
}

async function loadOrCreateRoot(dir: string, now: () => number): Promise<{ chain: x509.X509Certificate[]; key: CryptoKey }> {
  const certFile = path.join(dir, 'ca-cert.pem');
  const keyFile = path.join(dir, 'ca-key.pem');
  const [certPem, keyPem] = await Promise.all([readOptionalFile(certFile), readOptionalFile(keyFile)]);
  if (certPem !== undefined && keyPem !== undefined) {
    const chain = parseCertificates(certPem);
    if (chain.length !== 1) throw new Error(`${certFile} must hold exactly one certificate, the CA root`);
    const key = await privateKeyFromPem(keyPem);
    await assertKeyMatches(chain[0], key, certFile);
    return { chain, key };
  }
  if (certPem !== undefined || keyPem !== undefined) {
    throw new Error(`the CA in ${dir} is incomplete (one of ca-cert.pem and ca-key.pem is missing); restore it, or delete both to create a new root (every sidecar then needs a new certificate)`);
  }
  const { root, keys } = await generateRoot(now);
  // key first: a crash between the two writes leaves a key without a certificate, which the check above reports
  await writeSecretFile(keyFile, await privateKeyToPem(keys.privateKey));
  await writeFileAtomic(certFile, certificateToPem(root));
  return { chain: [root], key: keys.privateKey };
}

/**
 * The root every replica on one etcd shares: adopted when it exists, else created and offered with
 * a checked-and-set create. Two replicas starting together both generate one, exactly one create
 * succeeds, and the other discards its own and adopts the winner's: never two roots.
 */
async function loadOrCreateSharedRoot(shared: SharedCa, now: () => number): Promise<{ chain: x509.X509Certificate[]; key: CryptoKey }> {
  const existing = await shared.root.fresh('root');
  if (existing) return adoptSharedRoot(existing, shared.passphrase);
  const { root, keys } = await generateRoot(now);
  const record: SharedCaRoot = {
    certPem: certificateToPem(root),
    keyPem: shared.passphrase ? await privateKeyToEncryptedPem(keys.privateKey, shared.passphrase) : await privateKeyToPem(keys.privateKey),
    encrypted: shared.passphrase !== undefined,
    createdAt: new Date(now()).toISOString(),
  };
  if (await shared.root.create('root', record)) return { chain: [root], key: keys.privateKey };
  const winner = await shared.root.fresh('root');
  if (!winner) throw new Error('the CA root in etcd was created by another replica and then deleted; restart to adopt or create one');
  return adoptSharedRoot(winner, shared.passphrase);
}

async function adoptSharedRoot(record: SharedCaRoot, passphrase: string | undefined): Promise<{ chain: x509.X509Certificate[]; key: CryptoKey }> {
  const chain = parseCertificates(record.certPem);
  if (chain.length !== 1) throw new Error('the CA root in etcd must hold exactly one certificate');
  if (record.encrypted && passphrase === undefined) {
    throw new Error('the CA key in etcd is encrypted: start this replica with --ca-key-passphrase-file (the passphrase the replica that created it was given)');
  }
  const key = await privateKeyFromPem(record.keyPem, record.encrypted ? passphrase : undefined).catch((err: Error) => {
    throw new Error(`cannot read the CA key in etcd${record.encrypted ? ' (wrong passphrase?)' : ''}: ${err.message}`);
  });
  await assertKeyMatches(chain[0], key, 'the CA root in etcd');
  return { chain, key };
}

async function generateRoot(now: () => number): Promise<{ root: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await generateP256();
  const start = now();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerialNumber(),
    name: `O=trellis, CN=Trellis Root CA ${new Date(start).toISOString().slice(0, 10)}`,
    notBefore: new Date(start - backdateMs),
    notAfter: new Date(start + rootLifetimeMs),
    keys,
    signingAlgorithm: ecdsaP256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { root, keys };
}

async function loadOperatorCa(certFile: string, keyFile: string): Promise<{ chain: x509.X509Certificate[]; key: CryptoKey }> {
  const [certPem, keyPem] = await Promise.all([readOptionalFile(certFile), readOptionalFile(keyFile)]);
  if (certPem === undefined) throw new Error(`--ca-cert ${certFile} does not exist`);
  if (keyPem === undefined) throw new Error(`--ca-key ${keyFile} does not exist`);
  const chain = parseCertificates(certPem);
  if (!chain.length) throw new Error(`--ca-cert ${certFile} holds no PEM certificate`);
  const key = await privateKeyFromPem(keyPem).catch((err: Error) => {
    throw new Error(`--ca-key ${keyFile}: ${err.message}`);
  });
  const ca = chain[0];
  const bc = ca.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new Error(`--ca-cert ${certFile}: "${ca.subject}" is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const ku = ca.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) throw new Error(`--ca-cert ${certFile}: "${ca.subject}" may not sign certificates (keyUsage lacks keyCertSign)`);
  await assertKeyMatches(ca, key, certFile);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!(await chain[i].verify({ publicKey: chain[i + 1].publicKey, signatureOnly: true }).catch(() => false))) {
      throw new Error(`--ca-cert ${certFile}: certificate ${i + 1} ("${chain[i].subject}") is not signed by the next one ("${chain[i + 1].subject}"); list the CA first, then its issuers up to the root`);
    }
  }
  if (!(await isSelfSigned(chain[chain.length - 1]))) {
    throw new Error(`--ca-cert ${certFile}: the chain must end with the self-signed root (after "${chain[chain.length - 1].subject}" append its issuers)`);
  }
  return { chain, key };
}

async function assertKeyMatches(cert: x509.X509Certificate, key: CryptoKey, what: string): Promise<void> {
  const probe = new TextEncoder().encode('trellis-ca-key-check');
  const sig = await webcrypto.subtle.sign(ecdsaP256, key as webcrypto.CryptoKey, probe);
  const pub = await cert.publicKey.export(ecdsaP256, ['verify']);
  if (!(await webcrypto.subtle.verify(ecdsaP256, pub as webcrypto.CryptoKey, sig, probe))) {
    throw new Error(`${what}: the private key does not belong to the certificate "${cert.subject}"`);
  }
}
