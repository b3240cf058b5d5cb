// The verified SPIFFE id of the peer on an inbound connection, read once per connection: every
// request on a keep-alive connection reuses it.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { spiffeIdOf } from './mesh-tls.js';

const cache = new WeakMap<Socket, string | null>();

/** null for a plaintext connection, or a TLS peer without a (single) SPIFFE id. */
export function peerIdentity(socket: Socket): string | null {
  let id = cache.get(socket);
  if (id === undefined) {
    const t = socket as TLSSocket;
    id = t.encrypted === true && t.authorized ? spiffeIdOf(t.getPeerCertificate()) : null;
    cache.set(socket, id);
  }
  return id;
}

/**
 * The connection a request came on: for HTTP/2 the session's socket (one object per
 * connection, so the cache above holds), not the per-stream view compat requests give.
 */
export function connectionOf(req: { socket: Socket }): Socket {
  const session = (req as any).stream?.session;
  return session?.socket ?? req.socket;
}
