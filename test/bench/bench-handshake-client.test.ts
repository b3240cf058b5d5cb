// The new-connection client of `npm run bench` against a real TLS 1.3 server that requires a
// client certificate (as the sidecar's inbound listener does), on 127.0.41.0/24: full handshakes
// count only once the server accepted the client, a wrong peer identity or a foreign client
// certificate counts as errors, and no handshake resumes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import tls from 'node:tls';
import type { NewConnectionRun } from '../../bench/bench-handshake-client.js';
import { makeCa, makeLeaf, PemFiles } from '../proxy/tls/tls-test-support.js';

const client = fileURLToPath(new URL('../../bench/bench-handshake-client.js', import.meta.url));
const host = '127.0.41.60';
const serverId = 'spiffe://cluster.local/ns/default/svc/bench-app';
const files = new PemFiles();
let server: tls.Server;
let port = 0;
let accepted = 0;
let meshClient: { cert: string; key: string; ca: string };
let foreignClient: { cert: string; key: string; ca: string };

before(async () => {
  const ca = await makeCa('mesh');
  const foreign = await makeCa('foreign');
  const srv = await makeLeaf(ca, serverId);
  const cli = await makeLeaf(ca, 'spiffe://cluster.local/ns/default/svc/bench-client');
  const stranger = await makeLeaf(foreign, 'spiffe://cluster.local/ns/default/svc/bench-client');
  const caFile = files.write('ca.pem', ca.pem);
  meshClient = { cert: files.write('cli.pem', cli.certPem), key: files.write('cli.key', cli.keyPem), ca: caFile };
  foreignClient = { cert: files.write('stranger.pem', stranger.certPem), key: files.write('stranger.key', stranger.keyPem), ca: caFile };
  server = tls.createServer({
    key: srv.keyPem, cert: srv.certPem, ca: ca.pem, requestCert: true, rejectUnauthorized: true,
    minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'],
  }, (socket) => {
    accepted++;
    socket.on('error', () => undefined);
    socket.resume();
  });
  server.on('tlsClientError', (_e, s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  files.cleanup();
});

function runClient(args: string[]): Promise<NewConnectionRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [client, '--target', `${host}:${port}`, '--seconds', '0.5', '--concurrency', '4', '--sources', '127.0.41.61,127.0.41.62', ...args],
      { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(JSON.parse(stdout) as NewConnectionRun)));
  });
}

const tlsArgs = (c: { cert: string; key: string; ca: string }, expectId = serverId): string[] =>
  ['--mode', 'tls', '--cert', c.cert, '--key', c.key, '--ca', c.ca, '--expect-id', expectId];

test('full mTLS handshakes with a mesh certificate are counted once the server accepted them', { timeout: 30_000 }, async () => {
  const before = accepted;
  const r = await runClient(tlsArgs(meshClient));
  assert.equal(r.mode, 'tls');
  assert.ok(r.completed > 0, `no handshake completed: ${JSON.stringify(r)}`);
  assert.equal(r.errors, 0, r.errorKinds.join('; '));
  assert.equal(r.resumed, 0);
  assert.ok(accepted - before >= r.completed, 'the server accepted every counted handshake');
  assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms);
  assert.ok(r.clientCpuSeconds > 0);
});

test('a server that is not the expected identity is an error, not a handshake', { timeout: 30_000 }, async () => {
  const r = await runClient(tlsArgs(meshClient, 'spiffe://cluster.local/ns/default/svc/other'));
  assert.equal(r.completed, 0);
  assert.ok(r.errors > 0);
  assert.match(r.errorKinds.join(';'), /peer identity spiffe:\/\/cluster\.local\/ns\/default\/svc\/bench-app is not/);
});

test('a client certificate from another CA is refused by the server and never counted', { timeout: 30_000 }, async () => {
  const r = await runClient(tlsArgs(foreignClient));
  assert.equal(r.completed, 0);
  assert.ok(r.errors > 0);
});

test('plain TCP connects', { timeout: 30_000 }, async () => {
  const r = await runClient(['--mode', 'tcp']);
  assert.equal(r.mode, 'tcp');
  assert.ok(r.completed > 0);
  assert.equal(r.errors, 0, r.errorKinds.join('; '));
});

test('bad arguments are refused with the reason', { timeout: 30_000 }, async () => {
  await assert.rejects(runClient(['--mode', 'tls']), /--mode tls needs --cert, --key, --ca and --expect-id/);
});
