// The bench's h2load runs against real servers on 127.0.44.0/24: what it reads from h2load's
// summary and per-request log, and the errors it must not miss (non-2xx, reset streams, gRPC
// errors that travel as HTTP 200 without a message). No assertion on how fast anything is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChildren } from '../../bench/bench-children.js';
import { benchGrpcRequest, checkGrpcCall, grpcCallHeaders, grpcFrame } from '../../bench/bench-grpc-message.js';
import { h2loadArgs, runH2load, type H2loadRequest, type H2loadRun } from '../../bench/bench-h2load.js';
import { h2loadLogPercentiles, parseH2loadSummary } from '../../bench/bench-h2load-output.js';
import { startNginx, nginxRunAsUser } from '../../bench/bench-nginx.js';
import { nginxH2UpstreamConfig } from '../../bench/bench-nginx-config.js';
import { expectH2Body, pollH2 } from '../../bench/bench-h2-probe.js';
import { findExecutable } from '../../bench/bench-tools.js';

const h2load = findExecutable('h2load');
const nginx = findExecutable('nginx');
const skip = h2load === null ? 'h2load not installed (Debian nghttp2-client)' : false;
const grpcServerScript = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'bench-grpc-server.js');
const body = Buffer.alloc(100, 'x');
const run: H2loadRun = { connections: 2, streams: 4, seconds: 1, logFile: null };

/** An h2c server on `host` whose handler sees the request number (from 1); returns its URL and a stop. */
async function h2Server(host: string, handle: (stream: http2.ServerHttp2Stream, n: number) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  let n = 0;
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream) => {
    // A stream the handler resets emits its own error; that is the point of the test, not a failure.
    stream.on('error', () => undefined);
    handle(stream, ++n);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // h2load is gone by now; any session left is closed with it.
      for (const s of sessions) s.destroy();
    }),
  };
}

async function withChildren<T>(fn: (children: BenchChildren, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-h2load-'));
  const children = new BenchChildren(dir);
  try {
    return await fn(children, dir);
  } finally {
    await children.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('h2load arguments: one thread, connections × streams, duration, :authority, headers, body, log', () => {
  const request: H2loadRequest = { url: 'http://127.0.44.9:15001/x', authority: 'svc', headers: ['te: trailers'], dataFile: '/tmp/d', expectBodyBytes: 5 };
  assert.deepEqual(h2loadArgs(request, { connections: 10, streams: 10, seconds: 7, logFile: '/tmp/l' }),
    ['-t1', '-c10', '-m10', '-D', '7', '-H', ':authority: svc', '-H', 'te: trailers', '-d', '/tmp/d', '--log-file', '/tmp/l', 'http://127.0.44.9:15001/x']);
});

test('a log line that is not h2load\'s is an error naming the line; failed streams have no latency', () => {
  const p = h2loadLogPercentiles('1700000000000000\t200\t1500\n1700000000000001\t-1\t9999999\n1700000000000002\t200\t500\n');
  assert.deepEqual(p, { p50Ms: 0.5, p99Ms: 1.5 });
  const bad = h2loadLogPercentiles('1\t200\t10\nnot a log line\n');
  assert.ok(bad instanceof Error);
  assert.match(bad.message, /line 2/);
  assert.ok(parseH2loadSummary('connect: Connection refused\n') instanceof Error);
});

test('a run against an h2c server: counts, rate, body bytes and p50/p99 from the log', { skip }, async () => {
  let served = 0;
  const server = await h2Server('127.0.44.1', (stream) => {
    served++;
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
    stream.end(body);
  });
  try {
    await withChildren(async (children, dir) => {
      const r = await runH2load(children, h2load!, null, { url: server.url, authority: 'bench-h2', headers: [], dataFile: null, expectBodyBytes: 100 },
        { ...run, logFile: join(dir, 'run.log') });
      assert.ok(!(r instanceof Error), String(r));
      assert.ok(r.done > 0 && r.done <= served, `done ${r.done}, served ${served}`);
      assert.equal(r.succeeded, r.done);
      assert.equal(r.requests, r.done);
      assert.ok(r.dataBytes >= r.succeeded * 100, `${r.dataBytes} DATA bytes for ${r.succeeded} answers`);
      assert.deepEqual([r.failed, r.errored, r.timedOut, r.errors, r.errorKinds], [0, 0, 0, 0, '']);
      assert.ok(r.seconds > 0.5 && r.requestsPerSecond > 0);
      assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p50Ms > 0 && r.p50Ms <= r.p99Ms, `p50 ${r.p50Ms}, p99 ${r.p99Ms}`);
    });
  } finally {
    await server.stop();
  }
});

test('non-2xx answers, reset streams and short bodies are errors, each of its kind', { skip }, async () => {
  // Request n: 1 of 3 answers 503, 1 of 3 is reset, 1 of 3 answers 200 with half the body.
  const server = await h2Server('127.0.44.2', (stream, n) => {
    if (n % 3 === 0) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else if (n % 3 === 1) stream.respond({ ':status': 503 }, { endStream: true });
    else {
      stream.respond({ ':status': 200 });
      stream.end(body.subarray(0, 50));
    }
  });
  try {
    await withChildren(async (children) => {
      const r = await runH2load(children, h2load!, null, { url: server.url, authority: null, headers: [], dataFile: null, expectBodyBytes: 100 }, run);
      assert.ok(!(r instanceof Error), String(r));
      assert.ok(r.errored > 0, 'reset streams count as errored');
      assert.ok(r.failed > r.errored, 'failed holds the 503s and the errored streams');
      assert.ok(r.succeeded > 0);
      const kinds = Object.fromEntries(r.errorKinds.split(', ').map((k) => [k.replace(/ \d+$/, ''), Number(/\d+$/.exec(k)![0])]));
      assert.deepEqual(kinds, { 'non-2xx': r.failed - r.errored, errored: r.errored, 'short body': r.succeeded - Math.floor(r.dataBytes / 100) });
      assert.ok(kinds['short body'] >= r.succeeded / 2, 'every 200 carried half its body');
      assert.equal(r.errors, r.failed + r.timedOut + kinds['short body']);
    });
  } finally {
    await server.stop();
  }
});

test('nothing listening: an error, not a run of zero requests', { skip }, async () => {
  await withChildren(async (children) => {
    const r = await runH2load(children, h2load!, null, { url: 'http://127.0.44.3:1/', authority: null, headers: [], dataFile: null, expectBodyBytes: 100 }, run);
    assert.ok(r instanceof Error);
    assert.match(r.message, /h2load sent no request to http:\/\/127.0.44.3:1\/: no connection/);
  });
});

test('unary gRPC calls through h2load to the grpc-js server: status 0 answers carry the message, other statuses show as short bodies', { skip }, async () => {
  await withChildren(async (children, dir) => {
    const server = children.spawn('grpc', process.execPath, [grpcServerScript, '127.0.44.4', '50051', '100'], { cpus: null, output: 'log' });
    let ready = 'not tried';
    for (let i = 0; i < 50 && ready !== ''; i++) {
      assert.ok(server.isRunning(), server.logTail());
      ready = await checkGrpcCall('127.0.44.4:50051', null, 100, 1000) ?? '';
      if (ready !== '') await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(ready, '', 'a real grpc-js client gets status 0 and the answer');
    assert.match(await checkGrpcCall('127.0.44.4:50051', null, 99, 1000) ?? '', /answer of 100 bytes, expected 99/);

    const good = join(dir, 'good.bin');
    const wrong = join(dir, 'wrong.bin');
    writeFileSync(good, grpcFrame(benchGrpcRequest));
    writeFileSync(wrong, grpcFrame(Buffer.from('not the bench request')));
    const request = (dataFile: string): H2loadRequest => ({
      url: 'http://127.0.44.4:50051/trellis.bench.Bench/Unary', authority: null, headers: grpcCallHeaders, dataFile, expectBodyBytes: 105,
    });
    const ok = await runH2load(children, h2load!, null, request(good), { ...run, logFile: join(dir, 'grpc.log') });
    assert.ok(!(ok instanceof Error), String(ok));
    assert.ok(ok.succeeded > 0);
    assert.equal(ok.errors, 0, ok.errorKinds);
    assert.ok(ok.p50Ms !== null && ok.p99Ms !== null);

    const refused = await runH2load(children, h2load!, null, request(wrong), run);
    assert.ok(!(refused instanceof Error), String(refused));
    assert.equal(refused.failed, 0, 'INVALID_ARGUMENT travels as HTTP 200');
    assert.equal(refused.dataBytes, 0);
    assert.equal(refused.errors, refused.succeeded);
    assert.equal(refused.errorKinds, `short body ${refused.succeeded}`);
  });
});

test('the h2c nginx upstream speaks HTTP/2 with prior knowledge and serves h2load its body', { skip: skip || (nginx === null ? 'nginx not installed' : false) }, async () => {
  await withChildren(async (children, dir) => {
    const prefix = join(dir, 'nginx');
    const listen = '127.0.44.5:18080';
    const url = `http://${listen}/`;
    const child = await startNginx(children, nginx!, 'nginx-h2', prefix, nginxH2UpstreamConfig({ prefix, runAsUser: nginxRunAsUser() }, listen, 100), null,
      (abort) => pollH2({ url, authority: null, method: 'GET' }, 10_000, expectH2Body(100), abort));
    assert.ok(!(child instanceof Error), String(child));
    const r = await runH2load(children, h2load!, null, { url, authority: 'bench-h2', headers: [], dataFile: null, expectBodyBytes: 100 }, run);
    assert.ok(!(r instanceof Error), String(r));
    assert.ok(r.succeeded > 0);
    assert.equal(r.errors, 0, r.errorKinds);
  });
});
