// The SO_ORIGINAL_DST addon on sockets that were not redirected (the redirected case needs
// iptables in a network namespace: test/e2e/netns/original-destination-netns.test.ts).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { openSync, closeSync } from 'node:fs';
import { once } from 'node:events';
import { originalDestination, originalDestinationOfFd, socketFd } from '../../../src/proxy/listener/original-destination.js';

// this engineer's loopback range (test/e2e files each keep to their own)
const host = '127.0.84.1';

async function connectedPair(): Promise<{ server: net.Server; accepted: net.Socket; client: net.Socket }> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const acceptedP = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, host);
  const [accepted] = await acceptedP;
  return { server, accepted, client };
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

describe('original destination addon', () => {
  const opened: Array<() => void> = [];
  after(() => opened.forEach((close) => close()));

  it('refuses an fd that is not a whole number >= 0', () => {
    for (const bad of ['3', null, undefined, {}, 1.5, -1, Number.NaN, 2 ** 40]) {
      assert.throws(() => originalDestinationOfFd(bad as number), (err: NodeJS.ErrnoException) => /ERR_INVALID_ARG_TYPE|ERR_OUT_OF_RANGE/.test(err.code ?? ''), String(bad));
    }
  });

  it('says EBADF for an fd that is not open and ENOTSOCK for a file', () => {
    assert.equal(codeOf(() => originalDestinationOfFd(1_000_000)), 'EBADF');
    const fd = openSync('/dev/null', 'r');
    try {
      assert.equal(codeOf(() => originalDestinationOfFd(fd)), 'ENOTSOCK');
    } finally {
      closeSync(fd);
    }
  });

  it('reads a connection that was not redirected as addressed to itself (or untracked), and the wrapper as null', async () => {
    const { server, accepted, client } = await connectedPair();
    opened.push(() => { client.destroy(); accepted.destroy(); server.close(); });
    const fd = socketFd(accepted);
    assert.ok(fd >= 0);
    let raw: { address: string; port: number; family: number } | null = null;
    const code = codeOf(() => { raw = originalDestinationOfFd(fd); });
    if (code === undefined) {
      // conntrack tracks it: the original destination is the listener's own address
      assert.deepEqual(raw, { address: host, port: accepted.localPort, family: 4 });
    } else {
      assert.equal(code, 'ENOENT', 'without a conntrack entry the kernel says ENOENT');
    }
    assert.equal(originalDestination(accepted), null);
  });

  it('refuses a listening socket (no connection to look up) and a closed socket', async () => {
    const { server, accepted, client } = await connectedPair();
    const listenFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    assert.ok(['ENOENT', 'ENOTCONN'].includes(codeOf(() => originalDestinationOfFd(listenFd)) ?? ''), 'a listener has no original destination');
    const fd = socketFd(accepted);
    accepted.destroy();
    client.destroy();
    await once(accepted, 'close');
    server.close();
    assert.equal(socketFd(accepted), -1);
    assert.equal(codeOf(() => originalDestination(accepted)), 'EBADF');
    // the old fd number is closed now (or reused by something that is not this connection)
    assert.notEqual(codeOf(() => originalDestinationOfFd(fd)), undefined);
  });

  it('refuses a UDP socket', async () => {
    const dgram = await import('node:dgram');
    const sock = dgram.createSocket('udp4');
    sock.bind(0, host);
    await once(sock, 'listening');
    try {
      const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
      assert.ok(['ENOENT', 'ENOPROTOOPT', 'ENOTCONN', 'EINVAL'].includes(codeOf(() => originalDestinationOfFd(fd)) ?? 'none'));
    } finally {
      sock.close();
    }
  });
});
