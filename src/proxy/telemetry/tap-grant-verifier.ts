// The sidecar's side of tap grants (src/xds/tap-grant.ts): the admin `/tap` streams live request
// metadata, so it opens only for a grant the control plane signed for this sidecar, this exact
// request and the next half minute, used once. The verifying key comes with the ADS stream.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { parseTapGrant, tapGrantLifetimeMs, tapGrantScheme, tapGrantSignedBytes, tapGrantSkewMs, tapSignerKeyId } from '../../xds/tap-grant.js';

/** Why a tap was refused: the `reason` label of `trellis_admin_tap_refused_total`, a bounded set. */
export type TapRefusalReason =
  | 'missing-grant' | 'no-signer' | 'malformed' | 'unknown-key' | 'bad-signature'
  | 'wrong-proxy' | 'wrong-target' | 'expired' | 'replayed' | 'replay-memory-full';

export type TapGrantCheck = { ok: true } | { ok: false; status: 401 | 403 | 503; reason: TapRefusalReason; message: string };

/** Grants remembered at most (each lives under two minutes; the control plane opens one per tap). */
const maxRemembered = 10_000;

export interface TapGrantVerifierOptions {
  /** This sidecar's proxy id, once known. */
  proxyId: () => string | null;
  now?: () => number;
}

export class TapGrantVerifier {
  private signer: { kid: string; key: KeyObject } | null = null;
  /** nonce → when the grant would be refused by its time anyway (then forgotten). */
  private readonly used = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: TapGrantVerifierOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The signing key (base64 SPKI) from the ADS stream's response headers; an unreadable one is an error. */
  learnSigner(spkiB64: string): void {
    const der = Buffer.from(spkiB64, 'base64');
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('the tap signer key must be ECDSA P-256');
    this.signer = { kid: tapSignerKeyId(der), key };
  }

  get signerKeyId(): string | null {
    return this.signer?.kid ?? null;
  }

  /** Checks the Authorization header of an admin request for `target` (its URL as sent: `/tap?...`). */
  check(authorization: string | undefined, target: string): TapGrantCheck {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(authorization ?? '');
    if (!m || m[1].toLowerCase() !== tapGrantScheme.toLowerCase()) {
      return refuse(401, 'missing-grant', `the admin /tap streams live request metadata and opens only with "Authorization: ${tapGrantScheme} <grant>" signed by the control plane: tap through it (trellis tap SERVICE, or GET /api/v1/tap on the control plane with an API token)`);
    }
    if (!this.signer) return refuse(403, 'no-signer', 'this sidecar has not learned the control plane\'s tap signing key yet (it comes with the xDS stream); try again once it is connected');
    const grant = parseTapGrant(m[2]);
    if (!grant.ok) return refuse(403, 'malformed', `tap grant refused: ${grant.error}`);
    const p = grant.payload;
    if (p.kid !== this.signer.kid) return refuse(403, 'unknown-key', `tap grant refused: signed by key ${p.kid}, but this sidecar's control plane signs with ${this.signer.kid}`);
    if (!verify('sha256', tapGrantSignedBytes(grant.payloadB64), { key: this.signer.key, dsaEncoding: 'ieee-p1363' }, grant.signature)) {
      return refuse(403, 'bad-signature', 'tap grant refused: the signature does not verify');
    }
    const proxyId = this.opts.proxyId();
    if (p.proxy !== proxyId) return refuse(403, 'wrong-proxy', `tap grant refused: it is for proxy "${p.proxy}", this is "${proxyId ?? '(unregistered)'}"`);
    if (p.target !== target) return refuse(403, 'wrong-target', 'tap grant refused: it was signed for another request (path or filters differ)');
    const now = this.now();
    if (now > p.exp + tapGrantSkewMs || p.exp - now > tapGrantLifetimeMs + tapGrantSkewMs) {
      return refuse(403, 'expired', `tap grant refused: it ${now > p.exp ? 'expired' : 'is valid only from'} ${new Date(p.exp).toISOString()} (this sidecar's clock says ${new Date(now).toISOString()}; check the clocks)`);
    }
    return this.remember(p.nonce, p.exp + tapGrantSkewMs, now);
  }

  private remember(nonce: string, forgetAt: number, now: number): TapGrantCheck {
    if (this.used.has(nonce)) return refuse(403, 'replayed', 'tap grant refused: it was already used (the control plane signs a fresh one per tap)');
    // taps are rare: forgetting the grants past their time on each new one keeps the map small
    for (const [n, at] of this.used) if (at < now) this.used.delete(n);
    if (this.used.size >= maxRemembered) return refuse(503, 'replay-memory-full', `too many taps opened within ${(tapGrantLifetimeMs + 2 * tapGrantSkewMs) / 1000}s; try again later`);
    this.used.set(nonce, forgetAt);
    return { ok: true };
  }
}

function refuse(status: 401 | 403 | 503, reason: TapRefusalReason, message: string): TapGrantCheck {
  return { ok: false, status, reason, message };
}
