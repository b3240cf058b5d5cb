import { createServer } from 'node:http';

/**
 * The fallback upstream when nginx is unavailable: `node bench-upstream-node-server.js HOST PORT
 * BODY_BYTES`. Runs in its own process so that it can be pinned beside wrk.
 */
const [host, portText, bytesText] = process.argv.slice(2);
const body = Buffer.alloc(Number(bytesText), 'x');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 300_000;
server.headersTimeout = 301_000;
server.listen(Number(portText), host);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
