// What a sidecar presents on its ADS stream (gRPC request metadata), shared by both ends.
// Either its join token, or proof that it holds a mesh certificate: the certificate and a
// signature, by the certificate's key, over a fresh timestamp (so each stream carries new proof).

export const xdsCertHeader = 'x-trellis-cert';
export const xdsProofHeader = 'x-trellis-proof';
export const xdsProofTimeHeader = 'x-trellis-proof-time';

/** How far a proof's timestamp may be from the control plane's clock. */
export const xdsProofSkewMs = 5 * 60_000;

/** The bytes a certificate proof signs; the domain prefix keeps it from passing for any other signature. */
export function xdsProofPayload(timeMs: number): Buffer {
  return Buffer.from(`trellis-xds-proof/1 ${timeMs}`, 'utf8');
}
