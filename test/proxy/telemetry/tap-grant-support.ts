// A tap-grant signer with a key of its own, as the control plane's CA would sign, for tests that
// open a sidecar's admin /tap directly.
import { generateKeyPairSync, sign } from 'node:crypto';
import { TapGrantSigner } from '../../../src/control/telemetry/tap-grant-signer.js';
import { TapGrantVerifier } from '../../../src/proxy/telemetry/tap-grant-verifier.js';
import { tapSignerHeader } from '../../../src/xds/tap-grant.js';

export function testTapSigner(now?: () => number): TapGrantSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new TapGrantSigner({
    signingPublicKeySpki: publicKey.export({ type: 'spki', format: 'der' }),
    signDetached: async (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  }, now);
}

/** A verifier for proxy `proxyId` that trusts `signer`, as a sidecar does after its ADS stream opened. */
export function verifierTrusting(signer: TapGrantSigner, proxyId: string, now?: () => number): TapGrantVerifier {
  const v = new TapGrantVerifier({ proxyId: () => proxyId, now });
  v.learnSigner(signer.streamHeaders()[tapSignerHeader]);
  return v;
}
