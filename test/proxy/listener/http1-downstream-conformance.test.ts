// What an HTTP/1 client of the sidecar relies on from its listeners, pinned down black-box with
// exact bytes (http1-wire-client.ts) through a real ProxyRuntime (hardening-support.ts: outbound
// listener → upstream client → inbound listener → app): pipelining, HTTP/1.0, Connection: close,
// Expect, chunked bodies and trailers, big bodies, HEAD/204/304, the response head as the app
// wrote it, cancellation when the client leaves, keep-alive reuse, upgrades and draining.
// What http-limits-*.test.ts cover (malformed requests, timeouts) is not repeated here.
// Addresses: 127.0.97.0/24.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { startSidecar, type AppResponder, type Sidecar } from './hardening-support.js';
import { headerOf, headersOf, WireClient, type WireResponse } from './http1-wire-client.js';
import { withTimeout } from '../proxy-test-support.js';

const conformHost = (n: number): string => `127.0.97.${n}`;

/** What the app tells the tests: `closed` (url) when a request's response closed before it ended. */
const appEvents = new EventEmitter();

/** Held by `/gate` requests until a test opens it. */
let gate: Promise<void> = Promise.resolve();

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The app: each path prefix is one behaviour; anything else echoes method, path and body once the body is in. */
const respond: AppResponder = (req, res, rec) => {
  const url = req.url ?? '';
  const echo = (): void => {
    const body = `${req.method} ${url} ${rec.body}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (url.startsWith('/slow')) {
    req.on('end', () => setTimeout(echo, 200));
  } else if (url.startsWith('/gate')) {
    req.on('end', () => void gate.then(echo));
  } else if (url.startsWith('/unsized')) {
    // no content-length: chunked to the sidecar, and whatever the sidecar frames it as to its client
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part1-');
    setTimeout(() => res.end('part2'), 50);
  } else if (url.startsWith('/trailers')) {
    res.writeHead(200, { 'content-type': 'text/plain', Trailer: 'X-Checksum' });
    res.write('abc');
    res.addTrailers({ 'X-Checksum': 'c0ffee' });
    res.end();
  } else if (url.startsWith('/pipe')) {
    // streams the request body back as it comes (chunked both ways)
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  } else if (url.startsWith('/sized')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
    res.end(req.method === 'HEAD' ? undefined : 'hello world');
  } else if (url.startsWith('/status/')) {
    const status = Number(url.slice('/status/'.length));
    res.writeHead(status, { etag: '"v1"' });
    res.end();
  } else if (url.startsWith('/reason')) {
    res.writeHead(299, 'Custom Reason', { 'content-length': '2' });
    res.end('ok');
  } else if (url.startsWith('/cookies')) {
    // a raw header list: names in mixed case, two Set-Cookie fields
    res.writeHead(200, ['X-Mixed-Case', 'v', 'Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; Path=/', 'content-length', '2']);
    res.end('ok');
  } else if (url.startsWith('/drip')) {
    // a response that never ends by itself: a chunk every 50 ms until the request is cancelled
    res.writeHead(200, { 'content-type': 'text/plain' });
    const t = setInterval(() => res.write('tick\n'), 50);
    res.on('close', () => {
      clearInterval(t);
      if (!res.writableFinished) appEvents.emit('closed', url);
    });
  } else {
    req.on('end', echo);
  }
};

/** The app's side of an upgrade: 101, a greeting, then every byte it gets echoed back. */
function upgradeApp(received: Buffer[]): (req: http.IncomingMessage, socket: Duplex, early: Buffer) => void {
  return (_req, socket, early) => {
    socket.on('error', () => undefined);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nfrom-app:');
    const take = (d: Buffer): void => {
      received.push(d);
      socket.write(d);
    };
    if (early.length > 0) take(early);
    socket.on('data', take);
  };
}

const directions = ['outbound', 'inbound'] as const;
type Direction = (typeof directions)[number];

let sc: Sidecar;
const upgradeReceived: Buffer[] = [];
before(async () => {
  sc = await startSidecar(conformHost(1), {}, respond);
  sc.app.server.on('upgrade', upgradeApp(upgradeReceived));
});
after(async () => {
  await sc?.close();
});

const portOf = (s: Sidecar, d: Direction): number => (d === 'outbound' ? s.outboundPort : s.inboundPort);
const get = (path: string, extra = '', version = 'HTTP/1.1'): string => `GET ${path} ${version}\r\nHost: app\r\n${extra}\r\n`;
const post = (path: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: app\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

async function withClient<T>(d: Direction, what: string, fn: (c: WireClient) => Promise<T>, s: Sidecar = sc, ms = 15_000): Promise<T> {
  const c = await WireClient.connect(s.address, portOf(s, d));
  try {
    return await withTimeout(fn(c), ms, `${d}: ${what}`);
  } finally {
    c.destroy();
  }
}

const text = (r: WireResponse): string => r.body.toString('latin1');

for (const d of directions) {
  test(`${d}: three pipelined requests in one write get three responses in order on one connection`, () =>
    withClient(d, 'pipelining', async (c) => {
      await c.write(get('/p1') + post('/p2', 'the body of two') + get('/p3'));
      const rs = [await c.response(), await c.response(), await c.response()];
      assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
      assert.deepEqual(rs.map(text), ['GET /p1 ', 'POST /p2 the body of two', 'GET /p3 ']);
      assert.ok(await c.quietFor(50), 'nothing more, and the connection stays open');
    }));

  test(`${d}: pipelined behind a slow response, later responses wait for it and keep their order`, () =>
    withClient(d, 'pipelining behind a slow one', async (c) => {
      await c.write(get('/slow') + get('/after-1') + get('/after-2'));
      const rs = [await c.response(), await c.response(), await c.response()];
      assert.deepEqual(rs.map(text), ['GET /slow ', 'GET /after-1 ', 'GET /after-2 ']);
    }));

  test(`${d}: HTTP/1.0 without keep-alive gets its response, then the connection closes`, () =>
    withClient(d, 'HTTP/1.0 close', async (c) => {
      await c.write(get('/ten', '', 'HTTP/1.0'));
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(text(r), 'GET /ten ');
      assert.equal(await c.serverClosed(), '');
    }));

  test(`${d}: HTTP/1.0 with Connection: keep-alive and a sized response keeps the connection for a second request`, () =>
    withClient(d, 'HTTP/1.0 keep-alive', async (c) => {
      await c.write(get('/ten-ka-1', 'Connection: keep-alive\r\n', 'HTTP/1.0'));
      const first = await c.response();
      assert.equal(text(first), 'GET /ten-ka-1 ');
      assert.match(headerOf(first, 'connection') ?? '', /^keep-alive$/i);
      assert.ok(await c.quietFor(100), 'the connection stays open');
      await c.write(get('/ten-ka-2', 'Connection: keep-alive\r\n', 'HTTP/1.0'));
      assert.equal(text(await c.response()), 'GET /ten-ka-2 ');
    }));

  test(`${d}: HTTP/1.0 with a response of unknown length gets a close-delimited body, never chunked`, async () => {
    // with keep-alive asked for too: without a length only the close can end the body
    for (const extra of ['', 'Connection: keep-alive\r\n']) {
      await withClient(d, `HTTP/1.0 close-delimited (${JSON.stringify(extra)})`, async (c) => {
        await c.write(get('/unsized', extra, 'HTTP/1.0'));
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(headerOf(r, 'transfer-encoding'), undefined);
        assert.equal(headerOf(r, 'content-length'), undefined);
        assert.ok(r.closeDelimited, 'the body ended with the connection');
        assert.equal(text(r), 'part1-part2');
      });
    }
  });

  test(`${d}: Connection: close on HTTP/1.1 is answered with connection: close, then EOF`, () =>
    withClient(d, 'Connection: close', async (c) => {
      await c.write(get('/closing', 'Connection: close\r\n'));
      const r = await c.response();
      assert.equal(text(r), 'GET /closing ');
      assert.match(headerOf(r, 'connection') ?? '', /^close$/i);
      assert.equal(await c.serverClosed(), '');
    }));

  test(`${d}: a request pipelined after Connection: close is never forwarded, and the first is still answered`, () =>
    withClient(d, 'pipelined after Connection: close', async (c) => {
      const before = sc.app.requests.length;
      await c.write(get('/closing-first', 'Connection: close\r\n') + get('/never'));
      const r = await c.response();
      const rest = await c.serverClosed();
      assert.equal(r.status, 200, `${r.statusLine} ${text(r)}`);
      assert.equal(text(r), 'GET /closing-first ');
      assert.match(headerOf(r, 'connection') ?? '', /^close$/i);
      assert.equal(rest, '', 'nothing answers the pipelined request');
      assert.ok(!sc.app.paths().slice(before).includes('/never'), 'the pipelined request reached the app');
    }));

  test(`${d}: Expect: 100-continue gets 100 Continue before the body is sent, then the final response`, () =>
    withClient(d, '100-continue', async (c) => {
      await c.write(`POST /expecting HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n`);
      const interim = await c.response();
      assert.equal(interim.statusLine, 'HTTP/1.1 100 Continue');
      assert.deepEqual(interim.headers, []);
      await c.write('hello there');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(text(r), 'POST /expecting hello there');
    }));

  test(`${d}: an unknown expectation gets 417 from the listener and never reaches the app; without a body the connection goes on`, () =>
    withClient(d, 'Expect: foo', async (c) => {
      const before = sc.app.requests.length;
      await c.write(get('/unexpected', 'Expect: foo\r\n'));
      const r = await c.response();
      assert.equal(r.statusLine, 'HTTP/1.1 417 Expectation Failed');
      assert.equal(r.body.length, 0);
      assert.deepEqual(sc.app.paths().slice(before), []);
      await c.write(get('/after-417'));
      assert.equal(text(await c.response()), 'GET /after-417 ');
    }));

  test(`${d}: a 417 given before the announced body was read closes the connection after it`, () =>
    withClient(d, 'Expect: foo with a body', async (c) => {
      const before = sc.app.requests.length;
      await c.write(post('/unexpected', 'hello', 'Expect: foo\r\n'));
      const r = await c.response();
      assert.equal(r.statusLine, 'HTTP/1.1 417 Expectation Failed');
      assert.match(headerOf(r, 'connection') ?? '', /^close$/i);
      assert.equal(await c.serverClosed(), '');
      assert.deepEqual(sc.app.paths().slice(before), []);
    }));

  test(`${d}: a chunked request body written in pieces with pauses arrives whole`, () =>
    withClient(d, 'chunked request body', async (c) => {
      await c.write('POST /chunked HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (const piece of ['5\r\nhello\r\n', '1\r\n \r\n', '5\r\nworld\r\n', '0\r\n\r\n']) {
        await new Promise((r) => setTimeout(r, 30));
        await c.write(piece);
      }
      const r = await c.response();
      assert.equal(text(r), 'POST /chunked hello world');
      assert.equal(sc.app.requests.at(-1)!.body, 'hello world');
    }));

  test(`${d}: the trailers of a chunked request reach the app`, () =>
    withClient(d, 'request trailers', async (c) => {
      await c.write('POST /req-trailers HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n');
      const r = await c.response();
      assert.equal(text(r), 'POST /req-trailers abcde');
      const rec = sc.app.requests.at(-1)!;
      assert.equal(rec.url, '/req-trailers');
      assert.deepEqual(rec.rawTrailers, ['X-Sum', '42', 'X-Other', 'y']);
    }));

  test(`${d}: the trailers of a chunked response from the app reach the client`, () =>
    withClient(d, 'response trailers', async (c) => {
      await c.write(get('/trailers', 'TE: trailers\r\n'));
      const r = await c.response();
      assert.ok(r.chunked);
      assert.equal(text(r), 'abc');
      // names travel lowercased (node:http hands trailers over as an object); values intact
      assert.deepEqual(r.trailers.map(([k, v]) => [k.toLowerCase(), v]), [['x-checksum', 'c0ffee']]);
    }));

  test(`${d}: an 8 MiB body streamed both ways arrives intact`, () =>
    withClient(d, '8 MiB both ways', async (c) => {
      const data = randomBytes(8 * 1024 * 1024);
      const pending = c.response({}, 30_000);
      await c.write(`POST /pipe HTTP/1.1\r\nHost: app\r\nContent-Length: ${data.length}\r\n\r\n`);
      for (let i = 0; i < data.length; i += 64 * 1024) await c.writeDrained(data.subarray(i, i + 64 * 1024));
      const r = await pending;
      assert.equal(r.status, 200);
      assert.equal(r.body.length, data.length);
      assert.equal(sha256(r.body), sha256(data), 'the body the client got back');
      const rec = sc.app.requests.at(-1)!;
      assert.ok(rec.complete);
      assert.equal(sha256(Buffer.from(rec.body, 'latin1')), sha256(data), 'the body the app got');
    }, sc, 60_000));

  test(`${d}: HEAD gets the GET's headers with its content-length and no body; the connection is reused`, () =>
    withClient(d, 'HEAD', async (c) => {
      await c.write(`HEAD /sized HTTP/1.1\r\nHost: app\r\n\r\n` + get('/sized'));
      const head = await c.response({ head: true });
      assert.equal(head.status, 200);
      assert.equal(headerOf(head, 'content-length'), '11');
      const full = await c.response();
      assert.equal(text(full), 'hello world', 'no HEAD body bytes were taken for this response');
    }));

  test(`${d}: 204 and 304 carry no body and the connection is reused`, () =>
    withClient(d, '204 and 304', async (c) => {
      await c.write(get('/status/204') + get('/status/304') + get('/sized'));
      const noContent = await c.response();
      const notModified = await c.response();
      assert.equal(noContent.statusLine, 'HTTP/1.1 204 No Content');
      assert.equal(notModified.statusLine, 'HTTP/1.1 304 Not Modified');
      assert.equal(headerOf(notModified, 'etag'), '"v1"');
      for (const r of [noContent, notModified]) {
        assert.equal(headerOf(r, 'transfer-encoding'), undefined, r.statusLine);
        assert.equal(headerOf(r, 'content-length') ?? '0', '0', r.statusLine);
      }
      assert.equal(text(await c.response()), 'hello world', 'the next response starts right after the empty ones');
    }));

  test(`${d}: the app's reason phrase reaches the client`, () =>
    withClient(d, 'reason phrase', async (c) => {
      await c.write(get('/reason'));
      const r = await c.response();
      assert.equal(r.statusLine, 'HTTP/1.1 299 Custom Reason');
      assert.equal(text(r), 'ok');
    }));

  test(`${d}: header names keep the app's case and order, and repeated Set-Cookie fields stay apart`, () =>
    withClient(d, 'header case', async (c) => {
      await c.write(get('/cookies'));
      const r = await c.response();
      const names = r.headers.map(([k]) => k);
      assert.deepEqual(names.slice(0, 4), ['X-Mixed-Case', 'Set-Cookie', 'Set-Cookie', 'content-length'], JSON.stringify(r.headers));
      assert.deepEqual(headersOf(r, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/']);
    }));

  test(`${d}: a client that leaves mid-response gets the app's request cancelled`, async () => {
    const closed = new Promise<string>((resolve) => {
      const onClosed = (url: string): void => {
        if (url !== `/drip-${d}`) return;
        appEvents.off('closed', onClosed);
        resolve(url);
      };
      appEvents.on('closed', onClosed);
    });
    await withClient(d, 'client leaving', async (c) => {
      await c.write(get(`/drip-${d}`));
      await c.readUntil('tick\n');
    });
    assert.equal(await withTimeout(closed, 5000, 'the app to see its response closed'), `/drip-${d}`);
  });

  test(`${d}: 50 sequential requests reuse one connection`, async () => {
    const before = await openedConnections(sc, d);
    await withClient(d, 'keep-alive reuse', async (c) => {
      for (let i = 0; i < 50; i++) {
        await c.write(get(`/seq-${i}`));
        const r = await c.response();
        assert.equal(text(r), `GET /seq-${i} `);
      }
    });
    assert.equal(await openedConnections(sc, d), before + 1, 'connections accepted by the listener');
  });

  test(`${d}: an upgrade with early data in the same write carries bytes both ways`, () =>
    withClient(d, 'upgrade', async (c) => {
      upgradeReceived.length = 0;
      await c.write(`GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly-bytes`);
      const r = await c.response();
      assert.equal(r.status, 101);
      assert.match(headerOf(r, 'upgrade') ?? '', /^websocket$/i);
      assert.equal(await c.readUntil('early-bytes'), 'from-app:early-bytes');
      await c.write('second-write');
      assert.equal(await c.readUntil('second-write'), 'second-write');
      assert.equal(Buffer.concat(upgradeReceived).toString(), 'early-bytes' + 'second-write');
    }));
}

// Upstream answers the client could not be handed safely (control bytes, invalid names) beyond
// those http-limits-responses.test.ts covers (NUL, obs-fold, bare LF): 502, never relayed.
const unsafeAnswers: Array<{ name: string; answer: string }> = [
  { name: 'DEL in a header value', answer: 'HTTP/1.1 200 OK\r\nx-a: b\x7fc\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'a control byte in a header value', answer: 'HTTP/1.1 200 OK\r\nx-a: b\x01c\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'a bare CR inside a header value', answer: 'HTTP/1.1 200 OK\r\nx-a: b\rSet-Cookie: evil=1\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'a header name with a separator', answer: 'HTTP/1.1 200 OK\r\nx(a: b\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'a header name with a space', answer: 'HTTP/1.1 200 OK\r\nx a: b\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'an empty header name', answer: 'HTTP/1.1 200 OK\r\n: b\r\ncontent-length: 2\r\n\r\nok' },
  { name: 'a control byte in a trailer value', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: a\x01b\r\n\r\n' },
  { name: 'DEL in a trailer value', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: a\x7fb\r\n\r\n' },
  { name: 'a four-digit status', answer: 'HTTP/1.1 1000 X\r\ncontent-length: 2\r\n\r\nok' },
];

/** One request through `d` to the scripted raw app, which answers `answer`. */
function viaRawApp(s: Sidecar, d: Direction, answer: string, ms = 5000): Promise<WireResponse> {
  s.raw.answer = () => answer;
  return withClient(d, 'a scripted upstream answer', async (c) => {
    await c.write('GET /raw/x HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n');
    return c.response({}, ms);
  }, s, ms + 1000);
}

for (const d of directions) {
  test(`${d}: upstream header bytes a client could not receive safely become 502, never relayed`, async () => {
    const failures: string[] = [];
    for (const u of unsafeAnswers) {
      const r = await viaRawApp(sc, d, u.answer);
      if (r.status !== 502 || headerOf(r, 'x-trellis-error') !== 'upstream-protocol-error') failures.push(`${u.name}: ${r.statusLine} ${JSON.stringify(r.headers)}`);
    }
    assert.deepEqual(failures, []);
    // the table can fail: the same path relays a clean answer
    const clean = await viaRawApp(sc, d, 'HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\ncontent-length: 2\r\n\r\nok');
    assert.equal(clean.status, 200);
    assert.equal(headerOf(clean, 'x-a'), 'caf\xe9', 'obs-text in a value is relayed as is');
  });

  test(`${d}: a reason phrase with a control byte becomes 502 and the sidecar goes on`, async () => {
    // a sidecar of its own: this answer takes the one it hits down
    const own = await startSidecar(conformHost(10 + directions.indexOf(d)), {}, respond);
    try {
      const r = await viaRawApp(own, d, 'HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok', 2000);
      assert.equal(r.status, 502);
      assert.equal((await viaRawApp(own, d, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')).status, 200);
    } finally {
      await withTimeout(own.close(), 5000, 'closing the sidecar').catch(() => undefined);
    }
  });

  test(`${d}: a status below 100 from upstream becomes 502`, async () => {
    const r = await viaRawApp(sc, d, 'HTTP/1.1 099 X\r\ncontent-length: 2\r\n\r\nok', 2000);
    assert.equal(r.status, 502, r.statusLine);
  });

  test(`${d}: draining answers the request in flight with connection: close, then closes`, async () => {
    // a sidecar of its own: draining ends it
    const own = await startSidecar(conformHost(20 + directions.indexOf(d)), {}, respond);
    let open!: () => void;
    gate = new Promise<void>((resolve) => (open = resolve));
    try {
      await withClient(d, 'drain', async (c) => {
        await c.write(get(`/gate-${d}`));
        await withTimeout(waitFor(() => own.app.paths().includes(`/gate-${d}`)), 3000, 'the request to reach the app');
        const drained = own.runtime.drain(3000);
        open();
        const r = await c.response();
        assert.equal(text(r), `GET /gate-${d} `);
        assert.match(headerOf(r, 'connection') ?? '', /^close$/i);
        assert.equal(await c.serverClosed(), '');
        await withTimeout(drained, 5000, 'the drain to end');
      }, own);
    } finally {
      open();
      gate = Promise.resolve();
      await own.close();
    }
  });
}

async function waitFor(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 10));
}

/** trellis_downstream_connections_total for one direction. */
async function openedConnections(s: Sidecar, d: Direction): Promise<number> {
  const m = new RegExp(`^trellis_downstream_connections_total\\{direction="${d}"\\} (\\d+)$`, 'm').exec(await s.runtime.metrics.text());
  return m ? Number(m[1]) : 0;
}
