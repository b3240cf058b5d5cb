// gRPC and HTTP/2 through a real mesh: a @grpc/grpc-js client calls its sidecar over h2c, the
// sidecars talk HTTP/2 over mTLS (ALPN h2), and the server's sidecar speaks h2c to a grpc-js
// server (its Service port says grpc). Unary, the three streaming kinds, the interop message
// sizes, status and metadata both ways, cancellation, deadlines, plus curl and nghttp (Debian's
// nghttp2-client) speaking h2c with prior knowledge. Addresses: 127.0.70.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { Mesh, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';
import { encode, meshClient, startEchoServer, unary, type EchoServerLog, echoMeshServices } from './grpc-echo.js';

const resources = echoMeshServices;

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
  });
}

/** One raw HTTP/2 request (node:http2 client) to a sidecar's outbound listener, h2c. */
function h2Request(address: string, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | null; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}:15001`);
    session.on('error', reject);
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ headers: head, trailers, body: Buffer.concat(chunks) });
    });
    stream.on('error', reject);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('h2 request timed out'));
    }, 10_000);
    stream.on('close', () => clearTimeout(timer));
    if (body !== undefined) stream.end(body);
  });
}

/** A gRPC message frame: 1 byte compressed flag, 4 bytes length, then the bytes. */
function grpcFrame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

describe('gRPC and HTTP/2 through the mesh', () => {
  const mesh = new Mesh('127.0.70');
  let server: Pod;
  let client: Pod;
  let log: EchoServerLog;
  let grpcClient: ReturnType<typeof meshClient>;

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(resources)).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    server = await mesh.addPod('echo-1', 'echo', {}, {
      token: await token('echo'),
      app: async (address, port) => {
        const s = await startEchoServer(address, port, 'echo-1');
        log = s.log;
        return s.stop;
      },
    });
    client = await mesh.addPod('client-1', 'client', {}, { token: await token('client') });
    const dump = async (p: Pod) => (await (await fetch(`http://${p.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json()) as Record<string, any>;
    await waitFor(async () => (await dump(server)).identity?.serial && (await dump(client)).identity?.serial, 20_000, 'certificates for both sidecars');
    await mesh.waitInSync(15_000, 2);
    grpcClient = meshClient(client.address, 'echo');
    // the first calls may race the certificates' arrival in the peers' configs
    await waitFor(async () => {
      const r = await unary(grpcClient, encode({ key: 'warmup' }));
      return r.err === null && (await metric(server, /^trellis_tls_handshakes_total\{direction="inbound"/)) > 0;
    }, 20_000, 'a unary call over mTLS');
  });

  after(async () => {
    grpcClient?.close();
    await mesh.close();
  });

  it('unary: response, header and trailer metadata, request metadata, over few HTTP/2 connections', { timeout: 30_000 }, async () => {
    const md = new grpc.Metadata();
    md.set('x-echo-in', 'hello');
    const r = await unary(grpcClient, encode({ key: 'unary' }), { metadata: md });
    assert.equal(r.err, null);
    const body = JSON.parse(r.body!.toString()) as { pod: string; echo: string[] };
    assert.equal(body.pod, 'echo-1');
    assert.deepEqual(body.echo, ['hello'], 'request metadata reached the server');
    assert.deepEqual(r.headers!.get('x-echo-pod'), ['echo-1'], 'response header metadata came back');
    assert.deepEqual(r.status!.metadata.get('x-echo-trailer'), ['happy'], 'trailer metadata came back');
    // 40 calls at once travel as streams on (at most a couple of) sidecar-to-sidecar connections
    const before = await metric(client, /^trellis_upstream_connections_total\{cluster="echo\.default"\}/);
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => unary(grpcClient, encode({ key: `many-${i}` }))));
    assert.ok(all.every((x) => x.err === null), 'every concurrent call succeeded');
    const opened = (await metric(client, /^trellis_upstream_connections_total\{cluster="echo\.default"\}/)) - before;
    assert.ok(opened <= 1, `40 concurrent calls opened ${opened} new connections`);
    assert.ok(await metric(client, /^trellis_requests_total\{direction="outbound".*cluster="echo\.default".*classification="success"/) >= 41);
  });

  it('interop sizes: a 271828-byte request and a 314159-byte response', { timeout: 30_000 }, async () => {
    const r = await unary(grpcClient, encode({ key: 'large', respSize: 314159 }, 271828));
    assert.equal(r.err, null, r.err?.message);
    assert.equal(r.body!.length, 314159);
    assert.equal(log.lastRequestBytes, 271828);
  });

  it('server streaming, client streaming and bidirectional ping-pong', { timeout: 30_000 }, async () => {
    const got: number[] = await new Promise((resolve, reject) => {
      const out: number[] = [];
      const call = grpcClient.serverStream(encode({ key: 'ss', count: 5, delayMs: 20 }));
      call.on('data', (b: Buffer) => out.push((JSON.parse(b.toString()) as { i: number }).i));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
    assert.deepEqual(got, [0, 1, 2, 3, 4]);

    const sum: { count: number; bytes: number } = await new Promise((resolve, reject) => {
      const call = grpcClient.clientStream((err: grpc.ServiceError | null, b: Buffer) => (err ? reject(err) : resolve(JSON.parse(b.toString()))));
      for (let i = 0; i < 10; i++) call.write(Buffer.alloc(1000, 0x62));
      call.end();
    });
    assert.deepEqual(sum, { count: 10, bytes: 10_000 });

    // ping-pong: each ping waits for its pong, so the messages really travel one at a time both ways
    const pongs: string[] = await new Promise((resolve, reject) => {
      const call = grpcClient.bidi();
      const seen: string[] = [];
      let i = 0;
      call.on('data', (b: Buffer) => {
        seen.push(b.toString());
        if (++i < 5) call.write(Buffer.from(`ping${i}`));
        else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(seen));
      call.write(Buffer.from('ping0'));
    });
    assert.deepEqual(pongs, ['pong:ping0', 'pong:ping1', 'pong:ping2', 'pong:ping3', 'pong:ping4']);
  });

  it('status and trailer metadata of a failed call come back unchanged, and count as gRPC failures', { timeout: 30_000 }, async () => {
    const r = await unary(grpcClient, encode({ key: 'sad', status: grpc.status.NOT_FOUND, message: 'no such thing' }));
    assert.equal(r.err?.code, grpc.status.NOT_FOUND);
    assert.equal(r.err?.details, 'no such thing');
    assert.deepEqual(r.status!.metadata.get('x-echo-trailer'), ['sad']);
    await waitFor(async () => (await metric(client, /^trellis_grpc_requests_total\{direction="outbound".*grpc_status="5"/)) >= 1, 5000, 'the NOT_FOUND counted by grpc_status');
    assert.ok(await metric(client, /^trellis_requests_total\{direction="outbound".*status_code="200".*classification="failure"/) >= 1, 'an HTTP 200 with grpc-status 5 is a failure');
  });

  it('cancellation reaches the server', { timeout: 30_000 }, async () => {
    const call = grpcClient.unary(encode({ key: 'cancel-me', delayMs: 5000 }), () => undefined);
    await waitFor(async () => (log.calls.get('cancel-me') ?? 0) > 0 || undefined, 5000, 'the call to reach the server');
    call.cancel();
    await waitFor(async () => log.cancelled.includes('cancel-me') || undefined, 5000, 'the server to see the cancellation');
  });

  it('an expired deadline: DEADLINE_EXCEEDED, and the server got the remaining time in grpc-timeout', { timeout: 30_000 }, async () => {
    const r = await unary(grpcClient, encode({ key: 'late', delayMs: 3000 }), { deadlineMs: 800 });
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    const ms = log.lastTimeoutMs;
    assert.ok(ms !== null && ms <= 800 && ms > 0, `the server's deadline (${ms} ms left) is what was left of 800 ms`);
  });

  it('the mesh enforces grpc-timeout itself: a trailers-only DEADLINE_EXCEEDED with x-trellis-error', { timeout: 30_000 }, async () => {
    // a raw client that sends grpc-timeout but keeps no deadline of its own
    const r = await h2Request(client.address, {
      ':method': 'POST', ':path': '/test.Echo/Unary', ':authority': 'echo', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m',
    }, grpcFrame(encode({ key: 'mesh-deadline', delayMs: 3000 })));
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED), 'a gRPC status, not an HTTP 504');
    assert.equal(r.headers['x-trellis-error'], 'timeout');
    assert.equal(r.body.length, 0);
  });

  it('the mesh answers errors of its own as gRPC statuses (no route: UNIMPLEMENTED; no endpoint: UNAVAILABLE)', { timeout: 30_000 }, async () => {
    const r = await h2Request(client.address, {
      ':method': 'POST', ':path': '/test.Echo/Unary', ':authority': 'nowhere', 'content-type': 'application/grpc', te: 'trailers',
    }, grpcFrame(encode({})));
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['grpc-status'], String(grpc.status.UNIMPLEMENTED));
    assert.equal(r.headers['x-trellis-error'], 'no-route');
  });

  it('curl --http2-prior-knowledge and nghttp reach a gRPC server through the sidecars', { timeout: 30_000 }, async () => {
    const body = grpcFrame(encode({ key: 'curl', respSize: 10 }));
    const file = `${mesh.dir}/grpc-body.bin`;
    (await import('node:fs')).writeFileSync(file, body);
    const curl = await run('curl', ['-sS', '--http2-prior-knowledge', '-o', '/dev/null', '-D', '-', '--data-binary', `@${file}`,
      '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', 'host: echo', `http://${client.address}:15001/test.Echo/Unary`]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /^HTTP\/2 200/m);
    assert.match(curl.stdout, /^grpc-status: 0/m, 'the trailer grpc-status 0 reached curl');
    const ng = await run('nghttp', ['-v', '-H', ':authority: echo', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', file,
      `http://${client.address}:15001/test.Echo/Unary`]);
    assert.equal(ng.code, 0, ng.stderr + ng.stdout);
    assert.match(ng.stdout, /:status: 200/);
    assert.match(ng.stdout, /grpc-status: 0/);
  });
});
