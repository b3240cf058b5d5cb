import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { ConnectionPool } from '../../../../src/proxy/cluster/pool/connection-pool.js';
import type { UpstreamConnection } from '../../../../src/proxy/cluster/pool/upstream-client.js';
import { errors, isConnectFailure } from '../../../../src/proxy/errors.js';
import { host, onRequestHeads, rawUpstream, withTimeout } from '../../proxy-test-support.js';
import { CollectSink } from './collect-sink.js';
import { unacceptingListener } from '../../unaccepting-listener.js';


const get = (path = '/') => `GET ${path} HTTP/1.1\r\nhost: t\r\n\r\n`;

async function exchange(pool: ConnectionPool, head = get(), isHead = false): Promise<{ sink: CollectSink; conn: UpstreamConnection }> {
  const sink = new CollectSink();
  const conn = pool.acquire();
  conn.send(head, sink, isHead, 'none');
  await sink.done;
  return { sink, conn };
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test('keep-alive: a second request reuses the socket', async () => {
  let connections = 0;
  const up = await rawUpstream(host(10), (s) => {
    connections++;
    onRequestHeads(s, (_h, n) => s.write(ok(`r${n}`)));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const a = await exchange(pool);
    assert.equal(a.sink.body, 'r0');
    assert.equal(pool.idleCount, 1);
    const b = await exchange(pool);
    assert.equal(b.sink.body, 'r1');
    assert.equal(b.conn, a.conn);
    assert.equal(connections, 1);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('server closes after its response: the socket is not pooled, the next request connects anew', async () => {
  let connections = 0;
  const up = await rawUpstream(host(11), (s) => {
    connections++;
    onRequestHeads(s, () => s.end(ok('bye', 'connection: close\r\n')));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    assert.equal((await exchange(pool)).sink.body, 'bye');
    assert.equal(pool.idleCount, 0);
    assert.equal((await exchange(pool)).sink.body, 'bye');
    assert.equal(connections, 2);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('a pooled socket the peer closed silently fails retryably, and only then', async () => {
  // The server answers the first request with keep-alive, then closes as soon as it sees the next one.
  const up = await rawUpstream(host(12), (s) => {
    onRequestHeads(s, (_h, n) => (n === 0 ? s.write(ok('first')) : s.destroy()));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    await exchange(pool);
    const second = await exchange(pool);
    assert.equal(second.sink.error, errors.upstreamReset);
    assert.equal(second.sink.retryable, true, 'reused socket, nothing received: safe to resend');
    const fresh = new CollectSink();
    const conn = pool.acquire(true);
    conn.send(get(), fresh, false, 'none');
    await fresh.done;
    assert.equal(fresh.body, 'first', 'a fresh socket works');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('close mid-body: upstream-reset, not retryable', async () => {
  const up = await rawUpstream(host(13), (s) => {
    onRequestHeads(s, () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => s.destroy(), 20);
    });
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.status, 200);
    assert.equal(sink.body, 'partial');
    assert.equal(sink.error, errors.upstreamReset);
    assert.equal(sink.retryable, false);
    assert.equal(pool.size, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('chunked response with trailers', async () => {
  const up = await rawUpstream(host(14), (s) => {
    onRequestHeads(s, () =>
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n'),
    );
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.body, 'hello world');
    assert.deepEqual(sink.trailers, ['x-checksum', 'abc']);
    assert.equal(pool.idleCount, 1, 'a complete chunked response leaves the socket reusable');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('conflicting content-length and transfer-encoding is refused', async () => {
  const up = await rawUpstream(host(15), (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.error, errors.upstreamProtocol);
    assert.equal(sink.heads, 0, 'nothing of the smuggling-prone response is relayed');
    assert.equal(sink.detail, 'response-conflicting-length');
    assert.equal(pool.size, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('two different content-lengths are refused', async () => {
  const up = await rawUpstream(host(16), (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.error, errors.upstreamProtocol);
    assert.equal(sink.detail, 'response-duplicate-content-length');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('1xx responses are skipped', async () => {
  const up = await rawUpstream(host(17), (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n' + ok('final')));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.heads, 1);
    assert.equal(sink.status, 200);
    assert.equal(sink.body, 'final');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('HEAD, 204 and 304 have no body even with a content-length', async () => {
  const up = await rawUpstream(host(18), (s) => {
    onRequestHeads(s, (h) => {
      if (h.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n');
      else if (h.includes('/204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n');
    });
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const head = await exchange(pool, 'HEAD / HTTP/1.1\r\nhost: t\r\n\r\n', true);
    assert.equal(head.sink.status, 200);
    assert.equal(head.sink.header('content-length'), '1234');
    assert.equal(head.sink.body, '');
    const nc = await exchange(pool, get('/204'));
    assert.equal(nc.sink.status, 204);
    const nm = await exchange(pool, get('/304'));
    assert.equal(nm.sink.status, 304);
    assert.equal(nm.sink.body, '');
    assert.equal(nm.conn, head.conn, 'all three on one keep-alive socket: framing stayed in sync');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('no length: the body runs until the server closes', async () => {
  const up = await rawUpstream(host(19), (s) => {
    onRequestHeads(s, () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nstream');
      setTimeout(() => s.end('ed'), 20);
    });
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.error, null);
    assert.equal(sink.body, 'streamed');
    assert.equal(pool.idleCount, 0, 'read-until-close responses never return to the pool');
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('slow reader: the socket pauses and resumes (backpressure)', async () => {
  // more than the socket buffers can hold even at their autotuning maximum (here tcp_rmem 32 MiB + tcp_wmem 4 MiB)
  const big = 'x'.repeat(40 * 1024 * 1024);
  let serverSocket: net.Socket | undefined;
  const up = await rawUpstream(host(20), (s) => {
    serverSocket = s;
    onRequestHeads(s, () => s.write(ok(big)));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const sink = new CollectSink();
    sink.pauseAfterFirst = true;
    const conn = pool.acquire();
    conn.send(get(), sink, false, 'none');
    await withTimeout(
      (async () => {
        while (sink.chunks.length === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      3000,
      'first chunk',
    );
    // Paused: the server's writes back up instead of streaming into our memory.
    await new Promise((r) => setTimeout(r, 100));
    const received = sink.chunks.reduce((n, c) => n + c.length, 0);
    assert.ok(received < big.length, `paused after ${received} bytes`);
    assert.ok(serverSocket!.writableLength > 0, 'the server sees backpressure');
    conn.resume();
    await sink.done;
    assert.equal(sink.body.length, big.length);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('streams a chunked request body with trailers', async () => {
  let received = '';
  const up = await rawUpstream(host(21), (s) => {
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      received += d;
      if (received.endsWith('0\r\nx-sum: 9\r\n\r\n')) s.write(ok('got'));
    });
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const sink = new CollectSink();
    const conn = pool.acquire();
    conn.send('POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n', sink, false, 'chunked');
    conn.writeBody(Buffer.from('abc'));
    conn.writeBody(Buffer.from('defghijklmnop'));
    conn.endBody(['x-sum', '9']);
    await sink.done;
    assert.equal(sink.body, 'got');
    assert.ok(received.includes('3\r\nabc\r\nd\r\ndefghijklmnop\r\n0\r\nx-sum: 9\r\n\r\n'), received);
    assert.equal(pool.idleCount, 1);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('an answer before the request body ended: the socket is not reused', async () => {
  const up = await rawUpstream(host(22), (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n'));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const sink = new CollectSink();
    const conn = pool.acquire();
    conn.send('POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n', sink, false, 'length');
    conn.writeBody(Buffer.from('x'));
    await sink.done;
    assert.equal(sink.status, 413);
    assert.equal(pool.idleCount, 0);
    conn.writeBody(Buffer.from('late')); // harmless after the exchange ended
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('connection refused → upstream-connect', async () => {
  const up = await rawUpstream(host(23), () => undefined);
  const port = up.port;
  await up.close();
  const pool = new ConnectionPool(host(23), port, { connectTimeoutMs: 1000 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.error, errors.upstreamConnect);
    assert.equal(sink.retryable, false);
  } finally {
    pool.destroy();
  }
});

test('connect timeout → connect-timeout (504), a connect failure', async () => {
  // a listener whose accept queue is full: the connect hangs until the timeout
  const hole = await unacceptingListener('127.0.92.1');
  const pool = new ConnectionPool(hole.address, hole.port, { connectTimeoutMs: 50 });
  try {
    const { sink } = await exchange(pool);
    assert.equal(sink.error, errors.connectTimeout);
    assert.equal(sink.error?.status, 504);
    assert.ok(sink.error !== null && isConnectFailure(sink.error));
  } finally {
    pool.destroy();
    await hole.close();
  }
});

test('abort (downstream went away) closes the socket and stops the exchange', async () => {
  let closed = false;
  const up = await rawUpstream(host(24), (s) => {
    s.on('close', () => (closed = true));
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nslow'));
  });
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000 });
  try {
    const sink = new CollectSink();
    const conn = pool.acquire();
    conn.send(get(), sink, false, 'none');
    await withTimeout(
      (async () => {
        while (sink.chunks.length === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      3000,
      'first bytes',
    );
    conn.abort();
    await withTimeout(
      (async () => {
        while (!closed) await new Promise((r) => setTimeout(r, 5));
      })(),
      3000,
      'server sees close',
    );
    assert.equal(sink.error, null, 'an aborted exchange reports nothing more');
    assert.equal(pool.size, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});

test('idle sockets are capped and swept after the idle timeout', async () => {
  const up = await rawUpstream(host(25), (s) => onRequestHeads(s, () => s.write(ok('k'))));
  let now = 0;
  const pool = new ConnectionPool(up.address, up.port, { connectTimeoutMs: 1000, maxIdle: 2, idleTimeoutMs: 1000, now: () => now });
  try {
    const sinks = [new CollectSink(), new CollectSink(), new CollectSink()];
    for (const s of sinks) pool.acquire().send(get(), s, false, 'none');
    await Promise.all(sinks.map((s) => s.done));
    assert.equal(pool.idleCount, 2, 'the third socket closed instead of idling');
    now = 5000;
    (pool as any).sweep();
    assert.equal(pool.idleCount, 0);
  } finally {
    pool.destroy();
    await up.close();
  }
});
