// The sidecar's half of X.509: its own ECDSA P-256 key (never sent anywhere) and a CSR for it,
// through @peculiar/x509 on Node's WebCrypto, and the facts of a certificate, read with
// node:crypto. @peculiar/x509 (~7 MB RSS with asn1js) is imported only when a CSR is made, so
// a sidecar without identity, or one restored from its state dir, does not carry it.
import { createPrivateKey, sign, webcrypto, X509Certificate } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let x509Module: Promise<typeof X509> | null = null;

function loadX509(): Promise<typeof X509> {
  x509Module ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  });
  return x509Module;
}

export interface KeyAndCsr { keyPem: string; csrPem: string }

export async function newKeyAndCsr(commonName: string): Promise<KeyAndCsr> {
  const x509 = await loadX509();
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

/** Throws on a text that holds no certificate. */
export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  const spiffeId = uriSans(cert.subjectAltName).find((u) => u.startsWith('spiffe://')) ?? null;
  return { spiffeId, serial: serialHex(cert.serialNumber), notBefore: opensslTime(cert.validFrom), notAfter: opensslTime(cert.validTo) };
}

/**
 * The serial as the control plane names it (lowercase hex of the integer's bytes, as
 * @peculiar/x509 reads it): OpenSSL prints the same bytes in uppercase.
 */
function serialHex(openssl: string): string {
  const hex = openssl.toLowerCase();
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

const months: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** OpenSSL's time text ("Jun  1 08:00:00 2026 GMT", fractional seconds optional), not left to Date's lenient parser. */
function opensslTime(text: string): Date {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)? (\d{4}) GMT$/.exec(text);
  const month = m ? months[m[1]] : undefined;
  if (!m || month === undefined) throw new Error(`unexpected certificate time "${text}"`);
  const ms = m[6] ? Math.floor(Number(m[6]) * 1000) : 0;
  return new Date(Date.UTC(Number(m[7]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), ms));
}

/**
 * The URI names of Node's subjectAltName text ("DNS:a, URI:spiffe://..."). Node quotes a value
 * that holds a comma, quote or control character as a JSON string, so those are read as one.
 */
function uriSans(text: string | undefined): string[] {
  const out: string[] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end++;
      value = JSON.parse(text.slice(colon + 1, end)) as string;
    } else {
      end = text.indexOf(', ', colon);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    if (type === 'URI') out.push(value);
    i = end + 2;
  }
  return out;
}
