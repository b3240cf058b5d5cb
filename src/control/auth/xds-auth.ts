// Who may open an ADS stream. A sidecar presents its join token (`authorization: Bearer …`) or
// proof that it holds a mesh certificate (x-trellis-cert/-proof/-proof-time, src/xds/xds-credentials.ts).
// The check gives the service the credential speaks for; the stream then refuses a Node of
// another service. "required" refuses streams without credentials; "optional" admits them as
// unauthenticated (proxyless gRPC clients, sidecars without tokens) but still refuses bad ones.
// A certificate proof opens one stream only: a replayed one is refused (xds-proof-replay.ts).
import { status } from '@grpc/grpc-js';
import { xdsCertHeader, xdsProofHeader, xdsProofPayload, xdsProofSkewMs, xdsProofTimeHeader } from '../../xds/xds-credentials.js';
import type { JoinTokenStore } from './join-token-store.js';
import { SeenProofs } from './xds-proof-replay.js';
import { bearerToken } from './token-secret.js';
import type { PossessionCheck } from '../ca/workload-issuer.js';

export type XdsAuthMode = 'required' | 'optional';
export const xdsAuthModes: readonly XdsAuthMode[] = ['required', 'optional'];

/** The request metadata that matters here, one value per key (grpc-js gives lists). */
export type XdsCredentialHeaders = Partial<Record<'authorization' | typeof xdsCertHeader | typeof xdsProofHeader | typeof xdsProofTimeHeader, string>>;

/** Whom a credential speaks for. */
export interface XdsPrincipal {
  via: 'join-token' | 'certificate';
  service: string;
  namespace: string;
  /** join token id, or the certificate's SPIFFE id */
  subject: string;
}

export type XdsAuthDecision =
  | { ok: true; principal: XdsPrincipal | null }
  | { ok: false; code: RefusalCode; message: string };

/** RESOURCE_EXHAUSTED: too many proofs to remember within one window (the sidecar retries later). */
type RefusalCode = typeof status.UNAUTHENTICATED | typeof status.PERMISSION_DENIED | typeof status.RESOURCE_EXHAUSTED;

export interface XdsAuthenticatorOptions {
  mode: XdsAuthMode;
  tokens: Pick<JoinTokenStore, 'check'>;
  possession: { verifyPossession(certificatePem: string, data: Buffer, signature: string): Promise<PossessionCheck> };
  now?: () => number;
  /** The proofs already used; by default a fresh memory over the skew window. */
  seenProofs?: SeenProofs;
}

export class XdsAuthenticator {
  readonly mode: XdsAuthMode;
  private readonly now: () => number;
  private readonly seenProofs: SeenProofs;

  constructor(private readonly opts: XdsAuthenticatorOptions) {
    this.mode = opts.mode;
    this.now = opts.now ?? Date.now;
    this.seenProofs = opts.seenProofs ?? new SeenProofs({ windowMs: xdsProofSkewMs, now: this.now });
  }

  /** Checks the credential presented on a stream, before its Node is known. */
  async authenticate(headers: XdsCredentialHeaders): Promise<XdsAuthDecision> {
    if (headers[xdsCertHeader] !== undefined || headers[xdsProofHeader] !== undefined) return this.checkProof(headers);
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      const token = bearerToken(authorization);
      if (token === null) return refuse(status.UNAUTHENTICATED, 'the authorization metadata must be "Bearer <join token>"');
      const check = await this.opts.tokens.check(token);
      if (!check.ok) return refuse(status.UNAUTHENTICATED, check.message);
      return { ok: true, principal: { via: 'join-token', service: check.token.service, namespace: check.token.namespace, subject: `join token ${check.token.id}` } };
    }
    if (this.mode === 'required') {
      return refuse(status.UNAUTHENTICATED, 'the xDS port requires credentials: run the sidecar with a join token (trellis proxy --token, from `trellis token create --service NAME`) or a mesh certificate');
    }
    return { ok: true, principal: null };
  }

  /** Whether the principal may speak for this Node; null when it may. */
  static mismatch(principal: XdsPrincipal, node: { service: string; namespace: string }): string | null {
    if (principal.service === node.service && principal.namespace === node.namespace) return null;
    return `${principal.subject} is for service "${principal.service}" in namespace "${principal.namespace}", not "${node.service}" in "${node.namespace}"`;
  }

  private async checkProof(headers: XdsCredentialHeaders): Promise<XdsAuthDecision> {
    const certB64 = headers[xdsCertHeader];
    const signature = headers[xdsProofHeader];
    const timeText = headers[xdsProofTimeHeader];
    if (!certB64 || !signature || !timeText) return refuse(status.UNAUTHENTICATED, `a certificate proof needs ${xdsCertHeader}, ${xdsProofHeader} and ${xdsProofTimeHeader}`);
    const time = Number(timeText);
    if (!/^\d+$/.test(timeText) || !Number.isSafeInteger(time)) return refuse(status.UNAUTHENTICATED, `${xdsProofTimeHeader} must be milliseconds since the epoch`);
    const skew = time - this.now();
    if (Math.abs(skew) > xdsProofSkewMs) {
      return refuse(status.UNAUTHENTICATED, `the certificate proof is ${Math.round(Math.abs(skew) / 1000)}s ${skew < 0 ? 'old' : 'in the future'} (at most ${xdsProofSkewMs / 1000}s; check the clocks)`);
    }
    // checked before the signature (cheap refusal of a replay) and recorded after it (only proofs
    // that verified take memory; two streams racing with one proof: the first recorded wins)
    const key = SeenProofs.key(certB64, time);
    if (this.seenProofs.seen(key)) return refuse(status.UNAUTHENTICATED, replayed);
    const certificatePem = Buffer.from(certB64, 'base64').toString('utf8');
    const held = await this.opts.possession.verifyPossession(certificatePem, xdsProofPayload(time), signature);
    if (!held.ok) return refuse(held.status === 401 ? status.UNAUTHENTICATED : status.PERMISSION_DENIED, `certificate proof refused: ${held.error}`);
    const remembered = this.seenProofs.remember(key, time);
    if (remembered === 'replayed') return refuse(status.UNAUTHENTICATED, replayed);
    if (remembered === 'full') {
      return refuse(status.RESOURCE_EXHAUSTED, `too many certificate proofs within ${xdsProofSkewMs / 60_000} minutes to remember (${this.seenProofs.size}); try again later`);
    }
    return { ok: true, principal: { via: 'certificate', service: held.service, namespace: held.namespace, subject: `certificate ${held.spiffeId}` } };
  }
}

const replayed = 'certificate proof refused: it was already used (each stream needs a fresh proof; a replayed one is refused)';

function refuse(code: RefusalCode, message: string): XdsAuthDecision {
  return { ok: false, code, message };
}
