// X.509 through @peculiar/x509 on Node's WebCrypto: every certificate, CSR and extension is
// built and parsed by the library, never by hand-written ASN.1.
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };

/** ECDSA P-256 with SHA-256: the only key type the CA issues for and signs with. */
export const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export function generateP256(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ecdsaP256, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/** PKCS#8 encrypted with a passphrase (AES-256-CBC, the key derived with PBKDF2): how the shared CA key is kept in etcd. */
export async function privateKeyToEncryptedPem(key: CryptoKey, passphrase: string): Promise<string> {
  const plain = createPrivateKey(await privateKeyToPem(key));
  return String(plain.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }));
}

/** Accepts PKCS#8 ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with its passphrase) and SEC1 ("EC PRIVATE KEY", what `openssl ecparam -genkey` writes). */
export async function privateKeyFromPem(pem: string, passphrase?: string): Promise<CryptoKey> {
  const keyObject = passphrase === undefined ? createPrivateKey(pem) : createPrivateKey({ key: pem, passphrase });
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`the CA key must be ECDSA P-256, got ${keyObject.asymmetricKeyType}${keyObject.asymmetricKeyDetails?.namedCurve ? ` ${keyObject.asymmetricKeyDetails.namedCurve}` : ''}`);
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, ecdsaP256, false, ['sign']) as Promise<CryptoKey>;
}

/** Every certificate of a PEM text, in order. */
export function parseCertificates(pem: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new x509.X509Certificate(b));
}

export function certificateToPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

/** A positive 128-bit serial number as hex (RFC 5280: at most 20 octets, non-negative). */
export function newSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

export async function isSelfSigned(cert: x509.X509Certificate): Promise<boolean> {
  return cert.subject === cert.issuer && (await cert.verify({ signatureOnly: true }).catch(() => false));
}

/** sha256 of the DER, lowercase hex: how the API names a root of the trust bundle. */
export async function fingerprint(cert: x509.X509Certificate): Promise<string> {
  return Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
}
