// Outbound mTLS to a peer sidecar: the workload certificate as client certificate, the peer's
// chain verified against the trust bundle, and its SPIFFE id checked against the identities the
// control plane expects for the cluster. Each endpoint's pool keeps the last session ticket, so
// a new connection to the same peer resumes instead of a full handshake.
import tls from 'node:tls';
import type { MeshTls } from './mesh-tls.js';
import { uriSans } from './mesh-tls.js';
import type { TlsMetrics } from './tls-metrics.js';

/** One per cluster and identity source: what every connection of the cluster's pools checks. */
export class UpstreamTlsPolicy {
  private readonly expected: ReadonlySet<string>;

  constructor(
    readonly mesh: MeshTls,
    subjectAltNames: readonly string[],
    readonly alpn: string[],
    readonly sni: string,
    readonly metrics: TlsMetrics,
  ) {
    this.expected = new Set(subjectAltNames);
  }

  /** Same settings (so pools may keep their sockets when a config repeats them)? */
  sameAs(sans: readonly string[], alpn: readonly string[], sni: string): boolean {
    return this.sni === sni && this.alpn.join() === alpn.join() && sans.length === this.expected.size && sans.every((s) => this.expected.has(s));
  }

  /** tls.connect's checkServerIdentity: the chain is already verified; the peer must be one we expect. */
  readonly checkPeer = (_host: string, cert: tls.PeerCertificate): Error | undefined => {
    for (const id of uriSans(cert)) if (this.expected.has(id)) return undefined;
    const err = new Error(`peer identity ${uriSans(cert).join(',') || '(none)'} is not ${[...this.expected].join(' or ')}`) as NodeJS.ErrnoException;
    err.code = 'ERR_TRELLIS_PEER_IDENTITY';
    return err;
  };
}

/**
 * Tunnels stay on HTTP/1.1 even where the sidecars speak h2 to each other: an upgraded
 * connection (and a TCP tunnel, an HTTP/1.1 CONNECT) owns its connection for its lifetime, so
 * bytes go socket to socket with TCP's own flow control and half-close (docs/protocols.md).
 */
const tunnelAlpn = ['http/1.1'];

/** Per endpoint pool: the session to resume, valid for the identity generation it came from. */
export interface TlsSessionSlot {
  session: Buffer | undefined;
  generation: number;
}

/**
 * A TLS connection to a peer, or null when this sidecar holds no certificate yet (the caller
 * then speaks plaintext, which a permissive peer accepts). `tunnel`: a connection that will carry
 * a byte stream (an upgrade, a TCP tunnel): it offers ALPN http/1.1 only, whatever the cluster
 * says, and keeps its write side open when the peer half-closes. `alpn`: what to offer instead
 * of the cluster's list (an HTTP/1.1 connection offers http/1.1 only, an HTTP/2 session h2).
 */
export function connectTls(
  policy: UpstreamTlsPolicy, slot: TlsSessionSlot, host: string, port: number, tunnel = false, alpn: string[] = tunnel ? tunnelAlpn : policy.alpn,
): tls.TLSSocket | null {
  const context = policy.mesh.secureContext;
  if (context === null) return null;
  if (slot.generation !== policy.mesh.generation) {
    // a ticket of the previous certificate would resume as the old identity
    slot.session = undefined;
    slot.generation = policy.mesh.generation;
  }
  // allowHalfOpen is passed on to the TLSSocket (lib/_tls_wrap.js) but missing from the typings
  const socket = tls.connect({
    host, port,
    secureContext: context,
    ALPNProtocols: alpn,
    allowHalfOpen: tunnel,
    servername: policy.sni,
    checkServerIdentity: policy.checkPeer,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    session: slot.session,
  } as tls.ConnectionOptions);
  socket.setNoDelay(true);
  socket.on('session', (s: Buffer) => {
    if (slot.generation === policy.mesh.generation) slot.session = s;
  });
  socket.once('secureConnect', () => {
    (socket.isSessionReused() ? policy.metrics.outboundResumed : policy.metrics.outboundFull).inc();
  });
  return socket;
}
