// The sidecar's half of X.509: its own ECDSA P-256 key (never sent anywhere) and a CSR for it,
// through @peculiar/x509 on Node's WebCrypto.
import { createPrivateKey, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyAndCsr { keyPem: string; csrPem: string }

export async function newKeyAndCsr(commonName: string): Promise<KeyAndCsr> {
  const keys = await webcrypto.subtle.generateKey(ecdsaP256, true, ['sign', 'verify']) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: ecdsaP256 });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey));
  return { keyPem: x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n', csrPem: csr.toString('pem') + '\n' };
}

/** Proof, for a renewal, that we hold the key of the current certificate. */
export function signWithKey(keyPem: string, data: string): string {
  return sign('sha256', Buffer.from(data, 'utf8'), createPrivateKey(keyPem)).toString('base64');
}

export interface CertificateFacts { spiffeId: string | null; serial: string; notBefore: Date; notAfter: Date }

export function certificateFacts(pem: string): CertificateFacts {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const spiffeId = san?.names.items.find((n) => n.type === 'url' && n.value.startsWith('spiffe://'))?.value ?? null;
  return { spiffeId, serial: cert.serialNumber, notBefore: cert.notBefore, notAfter: cert.notAfter };
}
