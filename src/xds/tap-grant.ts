// Tap grants: how the control plane proves itself to a sidecar's admin `/tap` (docs/telemetry.md,
// "Who may tap"). The control plane signs, with its CA key, a grant for one sidecar, one tap
// request and half a minute; the sidecar checks it with the CA's public key, which it learns from
// the response headers of its ADS stream. Shared by both ends: the wire format only.
import { createHash } from 'node:crypto';

/** ADS response header: the base64 SPKI (DER) of the key that signs tap grants. */
export const tapSignerHeader = 'x-trellis-tap-signer';
/** The admin `/tap` request's `Authorization: Trellis-Tap <grant>`. */
export const tapGrantScheme = 'Trellis-Tap';

/** How long a grant is valid once signed: enough to reach a sidecar, too short to keep. */
export const tapGrantLifetimeMs = 30_000;
/** How far the clocks of control plane and sidecar may differ. */
export const tapGrantSkewMs = 60_000;

export interface TapGrantPayload {
  v: 1;
  /** Which signing key (tapSignerKeyId of its SPKI). */
  kid: string;
  /** The sidecar (proxy id) the grant is for. */
  proxy: string;
  /** The exact admin request target, `/tap?...`: filters cannot be changed without a new grant. */
  target: string;
  /** Milliseconds since the epoch after which the grant is refused. */
  exp: number;
  /** Random; each grant opens one tap only. */
  nonce: string;
}

/** The bytes signed: the domain prefix keeps a grant from passing for any other signature (a certificate's starts with DER 0x30). */
export function tapGrantSignedBytes(payloadB64: string): Buffer {
  return Buffer.from(`trellis-tap-grant/1\n${payloadB64}`, 'utf8');
}

export function tapSignerKeyId(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex').slice(0, 16);
}

export function encodeTapGrantPayload(payload: TapGrantPayload): string {
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

/** `<payload>.<signature>`, both base64url; the signature is ECDSA P-256 / SHA-256 as r‖s (IEEE P1363) over tapGrantSignedBytes. */
export function encodeTapGrant(payloadB64: string, signature: Uint8Array): string {
  return `${payloadB64}.${Buffer.from(signature).toString('base64url')}`;
}

export type ParsedTapGrant = { ok: true; payload: TapGrantPayload; payloadB64: string; signature: Buffer } | { ok: false; error: string };

const b64url = /^[A-Za-z0-9_-]+$/;

/** The grant from an Authorization header value's credentials part; shape checks only, no signature. */
export function parseTapGrant(grant: string): ParsedTapGrant {
  const parts = grant.split('.');
  if (parts.length !== 2 || !b64url.test(parts[0]) || !b64url.test(parts[1])) return { ok: false, error: 'the grant is not <payload>.<signature> in base64url' };
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  } catch {
    return { ok: false, error: 'the grant payload is not JSON' };
  }
  const p = raw as Partial<TapGrantPayload> | null;
  if (!p || p.v !== 1 || typeof p.kid !== 'string' || typeof p.proxy !== 'string' || typeof p.target !== 'string'
    || typeof p.exp !== 'number' || !Number.isSafeInteger(p.exp) || typeof p.nonce !== 'string' || p.nonce.length < 16 || p.nonce.length > 64) {
    return { ok: false, error: 'the grant payload lacks v: 1, kid, proxy, target, exp or nonce' };
  }
  return { ok: true, payload: p as TapGrantPayload, payloadB64: parts[0], signature: Buffer.from(parts[1], 'base64url') };
}
