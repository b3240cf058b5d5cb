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
