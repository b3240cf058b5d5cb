// Where an intercepted connection was going before iptables redirected it to the sidecar
// (SO_ORIGINAL_DST), through the tiny native addon in native/original-dst.c. Loaded on first use,
// so only sidecars that intercept need it built.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';

export interface OriginalDestination {
  address: string;
  port: number;
  family: 4 | 6;
}

interface Addon {
  originalDestination(fd: number): OriginalDestination;
}

let addon: Addon | null = null;

/** The addon, built by node-gyp at `npm ci` / `npm run build` into build/Release. */
export function loadOriginalDstAddon(): Addon {
  if (addon !== null) return addon;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  // from dist/src/proxy/listener (or src/proxy/listener) up to the package root
  while (!existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the package root (binding.gyp) to load the SO_ORIGINAL_DST addon');
    dir = up;
  }
  const file = path.join(dir, 'build', 'Release', 'original_dst.node');
  if (!existsSync(file)) throw new Error(`the SO_ORIGINAL_DST addon is not built (${file} is missing): run npm ci or npm run build:addon (needs g++, make, python3)`);
  addon = createRequire(import.meta.url)(file) as Addon;
  return addon;
}

/** The addon's call on a raw fd: throws an Error whose `code` is the errno name (EBADF, ENOENT, ...). */
export function originalDestinationOfFd(fd: number): OriginalDestination {
  return loadOriginalDstAddon().originalDestination(fd);
}

/** The fd under a connected net.Socket (libuv's stream handle), or -1 once it is closed. */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/**
 * The destination the client asked for, or null when the connection was not redirected: it was
 * addressed to the listener itself, or the kernel tracks no NAT for it (ENOENT). Other failures
 * (a closed socket) throw with the errno code.
 */
export function originalDestination(socket: Socket): OriginalDestination | null {
  const fd = socketFd(socket);
  if (fd < 0) throw Object.assign(new Error('originalDestination: the socket is closed'), { code: 'EBADF' });
  let dst: OriginalDestination;
  try {
    dst = originalDestinationOfFd(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (dst.port === socket.localPort && sameAddress(dst.address, socket.localAddress ?? '')) return null;
  return dst;
}

function sameAddress(a: string, b: string): boolean {
  return a === b || `::ffff:${a}` === b;
}
