// Test-only certificates (a mesh CA, a foreign CA, leaves with SPIFFE ids and chosen validity)
// made with @peculiar/x509, a settable identity source, and a proxy pair wired for mTLS on this
// suite's loopback range (127.0.33.0/24). Holds no tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateToPem, ecdsaP256, generateP256, newSerialNumber, privateKeyToPem, x509 } from '../../../src/control/ca/ca-crypto.js';
import type { IdentityMaterial } from '../../../src/proxy/identity/workload-identity.js';
import type { IdentitySource } from '../../../src/proxy/tls/mesh-tls.js';

export const tlsHost = (n: number): string => `127.0.33.${n}`;

export interface TestCa { name: string; keys: CryptoKeyPair; cert: x509.X509Certificate; pem: string }

export async function makeCa(name: string): Promise<TestCa> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerialNumber(), name: `CN=${name}`, keys, signingAlgorithm: ecdsaP256,
    notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 24 * 3_600_000),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { name, keys, cert, pem: certificateToPem(cert) };
}

export interface Leaf { certPem: string; keyPem: string; spiffeId: string; notBefore: Date; notAfter: Date }

export async function makeLeaf(ca: TestCa, spiffeId: string, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<Leaf> {
  const keys = await generateP256();
  const notBefore = validity.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = validity.notAfter ?? new Date(Date.now() + 3_600_000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumber(), subject: 'CN=workload', issuer: ca.cert.subject, notBefore, notAfter,
    signingKey: ca.keys.privateKey, publicKey: keys.publicKey, signingAlgorithm: ecdsaP256,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { certPem: certificateToPem(cert), keyPem: await privateKeyToPem(keys.privateKey), spiffeId, notBefore, notAfter };
}

export function material(leaf: Leaf, trust: TestCa[]): IdentityMaterial {
  return {
    spiffeId: leaf.spiffeId, serial: '1', notBefore: leaf.notBefore, notAfter: leaf.notAfter,
    certificatePem: leaf.certPem, chainPems: [], trustBundlePems: trust.map((c) => c.pem), keyPem: leaf.keyPem,
  };
}

/** An identity whose certificate a test swaps (a rotation). */
export class SettableIdentity implements IdentitySource {
  private m: IdentityMaterial | null;
  private readonly listeners = new Set<(m: IdentityMaterial) => void>();
  constructor(m: IdentityMaterial | null) {
    this.m = m;
  }
  current(): IdentityMaterial | null {
    return this.m;
  }
  onChange(l: (m: IdentityMaterial) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(m: IdentityMaterial): void {
    this.m = m;
    for (const l of this.listeners) l(m);
  }
}

/** Files for openssl and curl, removed by cleanup(). */
export class PemFiles {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-tls-'));
  write(name: string, text: string): string {
    const f = path.join(this.dir, name);
    writeFileSync(f, text, { mode: 0o600 });
    return f;
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
