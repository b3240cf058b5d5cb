// The control plane's side of tap grants (src/xds/tap-grant.ts): one grant per sidecar tap it
// opens, signed with the CA key that every replica shares, so a grant from any replica verifies
// on every sidecar.
import { randomBytes } from 'node:crypto';
import { encodeTapGrant, encodeTapGrantPayload, tapGrantLifetimeMs, tapGrantScheme, tapGrantSignedBytes, tapSignerHeader, tapSignerKeyId, type TapGrantPayload } from '../../xds/tap-grant.js';

export interface DetachedSigner {
  readonly signingPublicKeySpki: Buffer;
  signDetached(data: Uint8Array): Promise<Buffer>;
}

export class TapGrantSigner {
  private readonly kid: string;

  constructor(private readonly key: DetachedSigner, private readonly now: () => number = Date.now) {
    this.kid = tapSignerKeyId(key.signingPublicKeySpki);
  }

  /** The ADS response headers that tell each sidecar which key signs its grants. */
  streamHeaders(): Record<string, string> {
    return { [tapSignerHeader]: this.key.signingPublicKeySpki.toString('base64') };
  }

  /** The Authorization header value of one admin tap request (`target` is its exact `/tap?...`). */
  async authorization(proxyId: string, target: string): Promise<string> {
    const payload: TapGrantPayload = { v: 1, kid: this.kid, proxy: proxyId, target, exp: this.now() + tapGrantLifetimeMs, nonce: randomBytes(16).toString('base64url') };
    const payloadB64 = encodeTapGrantPayload(payload);
    const signature = await this.key.signDetached(tapGrantSignedBytes(payloadB64));
    return `${tapGrantScheme} ${encodeTapGrant(payloadB64, signature)}`;
  }
}
