// Run inside a namespace with redirect rules: listens where iptables redirects (127.0.0.1:15001, or
// [::1]:15001 for an IPv6 target),
// connects to an address that is nowhere, and prints what the addon says the accepted connection
// was going to, plus what it says once that connection is closed.
import net from 'node:net';
import { once } from 'node:events';
import { originalDestination, originalDestinationOfFd, socketFd } from '../../../src/proxy/listener/original-destination.js';

const [target, portText] = process.argv.slice(2);
const server = net.createServer();
server.listen(15001, target.includes(':') ? '::1' : '127.0.0.1');
await once(server, 'listening');
const accepted = once(server, 'connection') as Promise<[net.Socket]>;
const client = net.connect(Number(portText), target);
client.on('error', () => undefined);
const [socket] = await accepted;
const fd = socketFd(socket);
const out: Record<string, unknown> = { raw: originalDestinationOfFd(fd), wrapped: originalDestination(socket) };
socket.destroy();
await once(socket, 'close');
try {
  originalDestination(socket);
} catch (err) {
  out.closed = (err as NodeJS.ErrnoException).code;
}
client.destroy();
server.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
