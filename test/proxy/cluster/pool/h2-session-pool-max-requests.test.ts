// maxRequestsPerConnection on HTTP/2: streams per upstream session, against a real node:http2
// (h2c) server that counts the sessions it accepts and the streams each carries. A session that
// carried its share takes no new streams, its streams in flight finish, and it closes after its
// last one. Addresses: 127.0.95.0/24.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { ConnectionPool, type ConnectionStats } from '../../../../src/proxy/cluster/pool/connection-pool.js';
import type { UpstreamStream } from '../../../../src/proxy/cluster/pool/upstream-stream.js';
import { CollectSink } from './collect-sink.js';

const host = (n: number): string => `127.0.95.${n}`;


/** Starts one GET on `stream`; its sink resolves when the exchange ends. */
function start(stream: UpstreamStream, path = '/'): CollectSink {
  const sink = new CollectSink();
  stream.send(`GET ${path} HTTP/1.1\r\nhost: app\r\n\r\n`, sink, false, 'none');
  return sink;
}

async function ok(sink: CollectSink): Promise<void> {
  await sink.done;
  assert.equal(sink.error, null, `exchange failed: ${sink.error?.name}`);
  assert.equal(sink.status, 200);
}

interface CountingServer {
  address: string;
  port: number;
  /** Streams each accepted session carried, in the order sessions were accepted. */
  streamsPerSession(): number[];
  /** Sessions the server still holds open. */
  openSessions(): number;
  /** Requests to /hold wait here until released. */
  held: Array<() => void>;
  close(): Promise<void>;
}

async function countingServer(address: string): Promise<CountingServer> {
  const counts = new Map<http2.Http2Session, number>();
  const open = new Set<http2.Http2Session>();
  const held: Array<() => void> = [];
  const server = http2.createServer();
  server.on('session', (s) => {
    counts.set(s, 0);
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.on('stream', (stream, headers) => {
    counts.set(stream.session!, (counts.get(stream.session!) ?? 0) + 1);
    const answer = (): void => {
      if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: false });
      if (!stream.destroyed) stream.end('ok');
    };
    if (headers[':path'] === '/hold') held.push(answer);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return {
    address,
    port: (server.address() as AddressInfo).port,
    streamsPerSession: () => [...counts.values()],
    openSessions: () => open.size,
    held,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}

class CountingStats implements ConnectionStats {
  opened = (_s: Socket): void => undefined;
  closed = (_s: Socket): void => undefined;
  reached = 0;
  maxRequestsReached(): void {
    this.reached++;
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function h2Pool(up: CountingServer, maxRequestsPerConnection: number, stats: ConnectionStats): ConnectionPool {
  return new ConnectionPool(up.address, up.port, { connectTimeoutMs: 2000, protocol: 'h2', maxRequestsPerConnection, stats });
}

test('N requests with a limit of k streams per session open ceil(N/k) sessions, each carrying at most k', async () => {
  const up = await countingServer(host(1));
  const stats = new CountingStats();
  const pool = h2Pool(up, 3, stats);
  try {
    for (let i = 0; i < 7; i++) await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [3, 3, 1], 'ceil(7/3) = 3 sessions');
    assert.equal(stats.reached, 2, 'two sessions reached the limit');
    // the two that carried their share close; the third stays for the next request
    await until(() => up.openSessions() === 1 && pool.h2Sessions === 1, 'the spent sessions close');
    await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [3, 3, 2], 'the open session takes the next request');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('streams in flight when the limit is reached finish; the next request opens a new session', async () => {
  const up = await countingServer(host(2));
  const stats = new CountingStats();
  const pool = h2Pool(up, 2, stats);
  try {
    const first = start(pool.acquireStream(), '/hold');
    const second = start(pool.acquireStream(), '/hold');
    assert.equal(stats.reached, 1, 'the second stream was the session\'s last');
    await until(() => up.held.length === 2, 'both held requests reach the server');
    const third = start(pool.acquireStream(), '/hold');
    await until(() => up.held.length === 3, 'the third reaches the server');
    assert.deepEqual(up.streamsPerSession(), [2, 1], 'the third went on a new session');
    assert.equal(pool.h2Sessions, 2);
    for (const release of up.held.splice(0, 2)) release();
    await ok(first);
    await ok(second);
    assert.equal(first.body + second.body, 'okok');
    await until(() => pool.h2Sessions === 1 && up.openSessions() === 1, 'the spent session closes after its last stream');
    up.held.shift()!();
    await ok(third);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('limit 1: a session per request, concurrent ones included, and none left open after them', async () => {
  const up = await countingServer(host(3));
  const stats = new CountingStats();
  const pool = h2Pool(up, 1, stats);
  try {
    const sinks = Array.from({ length: 8 }, () => start(pool.acquireStream(), '/hold'));
    await until(() => up.held.length === 8, 'all eight reach the server');
    assert.equal(pool.h2Sessions, 8, 'eight sessions at once');
    for (const release of up.held.splice(0)) release();
    for (const s of sinks) await ok(s);
    assert.deepEqual(up.streamsPerSession(), [1, 1, 1, 1, 1, 1, 1, 1]);
    assert.equal(stats.reached, 8);
    await until(() => pool.h2Sessions === 0 && up.openSessions() === 0, 'every session closes after its one stream');
    for (let i = 0; i < 3; i++) await ok(start(pool.acquireStream()));
    assert.equal(up.streamsPerSession().length, 11, 'sequential requests open one each too');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('a limit from a new config applies to the sessions already open; raising or removing it keeps them', async () => {
  const up = await countingServer(host(4));
  const stats = new CountingStats();
  const pool = h2Pool(up, 0, stats);
  try {
    for (let i = 0; i < 5; i++) await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [5], 'no limit: one session');

    // lowered below what the idle session carried: it closes now
    pool.maxRequestsPerConnection = 3;
    assert.equal(stats.reached, 1);
    await until(() => pool.h2Sessions === 0 && up.openSessions() === 0, 'the idle session over the new limit closes');
    for (let i = 0; i < 4; i++) await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [5, 3, 1]);

    // lowered while a stream is in flight: that stream finishes, the session takes no more
    const held = start(pool.acquireStream(), '/hold');
    await until(() => up.held.length === 1, 'the held request reaches the server');
    assert.deepEqual(up.streamsPerSession(), [5, 3, 2]);
    pool.maxRequestsPerConnection = 2;
    await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [5, 3, 2, 1], 'a new session, not the spent one');
    up.held.shift()!();
    await ok(held);
    await until(() => pool.h2Sessions === 1 && up.openSessions() === 1, 'the spent session closes after its stream');

    // raised, then removed: the open session keeps serving
    pool.maxRequestsPerConnection = 10;
    pool.maxRequestsPerConnection = 0;
    for (let i = 0; i < 4; i++) await ok(start(pool.acquireStream()));
    assert.deepEqual(up.streamsPerSession(), [5, 3, 2, 5]);
    assert.equal(pool.h2Sessions, 1);
  } finally {
    pool.destroy();
    await up.close();
  }
});
