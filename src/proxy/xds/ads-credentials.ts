// The credentials a sidecar presents on each ADS stream (src/xds/xds-credentials.ts): proof of
// its current certificate while it holds a valid one, else its join token, else nothing. Built
// anew for every stream, so a reconnect after a rotation proves the new certificate. The control
// plane accepts each proof once (src/control/auth/xds-proof-replay.ts, keyed by certificate and
// time), so no two proofs carry the same time: a reconnect within the same millisecond, or after
// the clock stepped back, signs the next millisecond instead.
import { sign } from 'node:crypto';
import { xdsCertHeader, xdsProofHeader, xdsProofPayload, xdsProofTimeHeader } from '../../xds/xds-credentials.js';

/** What the credentials need from the workload identity (its current() material). */
export interface HeldCertificate {
  certificatePem: string;
  keyPem: string;
  notAfter: Date;
}

export interface AdsCredentialSources {
  token?: string;
  certificate: () => HeldCertificate | null;
  now?: () => number;
}

export function adsCredentials(sources: AdsCredentialSources): () => Record<string, string> {
  const now = sources.now ?? Date.now;
  let lastProofTime = 0;
  return (): Record<string, string> => {
    const current = now();
    const held = sources.certificate();
    if (held && held.notAfter.getTime() > current) {
      const time = Math.max(current, lastProofTime + 1);
      try {
        const proof = {
          [xdsCertHeader]: Buffer.from(held.certificatePem, 'utf8').toString('base64'),
          [xdsProofHeader]: sign('sha256', xdsProofPayload(time), held.keyPem).toString('base64'),
          [xdsProofTimeHeader]: String(time),
        };
        lastProofTime = time;
        return proof;
      } catch {
        // an unusable key: fall back to the token, which the control plane can still check
      }
    }
    return sources.token ? { authorization: `Bearer ${sources.token}` } : {};
  };
}
