// The HTTP/1 server on its own, over real loopback sockets (127.0.98.0/24): framing both ways,
// pipelining order, body flow control, answers before the body, upgrades, trailers and the
// timeouts, with a raw client so every byte is exact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Http1Server, type Http1ServerOptions } from '../../../../src/proxy/listener/http1/http1-server.js';
import type { Http1Request } from '../../../../src/proxy/listener/http1/http1-request.js';
import type { Http1Response } from '../../../../src/proxy/listener/http1/http1-response.js';
import { withTimeout } from '../../proxy-test-support.js';

const address = '127.0.98.1';
type Handler = (req: Http1Request, res: Http1Response) => void;

interface Harness {
  port: number;
  server: Http1Server;
  seen: Http1Request[];
  events: string[];
  handler: Handler;
  upgrades: Array<{ req: Http1Request; socket: Socket; head: Buffer }>;
  close(): Promise<void>;
}

async function start(opts: Partial<Http1ServerOptions> = {}): Promise<Harness> {
  const h = { seen: [], events: [], upgrades: [], handler: echo } as unknown as Harness;
  h.server = new Http1Server({
    maxHeaderSize: 16 * 1024,
    headerTimeoutMs: 0,
    idleTimeoutMs: 0,
    streamIdleTimeoutMs: 0,
    onRequest: (req, res) => {
      h.seen.push(req);
      h.handler(req, res);
    },
    onUpgrade: (req, socket, head) => h.upgrades.push({ req, socket, head }),
    onConnect: null,
    clientError: (err, socket) => {
      h.events.push(`clientError ${err.code}`);
      socket.destroy();
    },
    timeout: (socket, res, complete) => {
      h.events.push(`timeout ${res === null ? 'idle' : 'in-flight'} ${complete}`);
      socket.destroy();
    },
    ...opts,
  });
  const front = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => h.server.accept(s));
  await new Promise<void>((resolve) => front.listen(0, address, resolve));
  h.port = (front.address() as AddressInfo).port;
  h.server.start();
  h.close = async () => {
    h.server.close();
    h.server.closeAllConnections();
    await new Promise<void>((resolve) => front.close(() => resolve()));
  };
  return h;
}

/** Answers with the method, URL and body it read. */
function echo(req: Http1Request, res: Http1Response): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = `${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
    res.writeHead(200, ['content-length', String(body.length)]);
    res.end(body);
  });
}

/** Writes `parts` (pausing `gapMs` between them), then reads until the server closes or `ms` passes. */
function exchange(port: number, parts: string[], opts: { ms?: number; gapMs?: number; until?: (text: string) => boolean } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, address);
    let text = '';
    let closed = false;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(done, opts.ms ?? 2000);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      if (opts.until?.(text)) done();
    });
    s.on('end', () => {
      closed = true;
      done();
    });
    s.on('error', done);
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p, 'latin1');
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

const count = (text: string, what: RegExp): number => (text.match(what) ?? []).length;

let h: Harness;
before(async () => {
  h = await start();
});
after(async () => {
  await h?.close();
});

test('pipelined requests are answered in request order even when a later one finishes first', async () => {
  const pending: Array<() => void> = [];
  h.handler = (req, res) => {
    const answer = (): void => {
      res.writeHead(200, ['content-length', String(req.url.length)]);
      res.end(req.url);
    };
    // the first answers last
    if (req.url === '/1') pending.push(answer);
    else {
      answer();
      if (req.url === '/3') setTimeout(() => pending.forEach((f) => f()), 50);
    }
  };
  const r = await withTimeout(exchange(h.port, ['GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n'], { until: (t) => t.endsWith('/3') }), 5000, 'three answers');
  const bodies = r.text.split('HTTP/1.1 200 OK').slice(1).map((x) => x.split('\r\n\r\n')[1]);
  assert.deepEqual(bodies, ['/1', '/2', '/3']);
  h.handler = echo;
});

test('a body read late is kept until its reader attaches, then ends after its data', async () => {
  h.handler = (req, res) => {
    setTimeout(() => echo(req, res), 60);
  };
  const r = await withTimeout(exchange(h.port, ['POST /late HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello'], { until: (t) => t.includes('hello') }), 5000, 'answer');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\ncontent-length: 16\r\n\r\nPOST \/late hello$/);
  h.handler = echo;
});

test('a chunked body with trailers, and more than 32 header fields (llhttp hands them over in two batches)', async () => {
  let trailers: string[] = [];
  let headers: string[] = [];
  h.handler = (req, res) => {
    headers = req.rawHeaders;
    req.on('data', () => undefined);
    req.on('end', () => {
      trailers = req.rawTrailers;
      res.writeHead(204, []);
      res.end();
    });
  };
  const many = Array.from({ length: 40 }, (_, i) => `x-h${i}: v${i}\r\n`).join('');
  const r = await withTimeout(exchange(h.port, [`POST /t HTTP/1.1\r\nHost: a\r\n${many}transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 42\r\n\r\n`], { until: (t) => t.includes('\r\n\r\n') }), 5000, 'answer');
  assert.match(r.text, /^HTTP\/1\.1 204 No Content\r\n\r\n$/);
  assert.equal(headers.length, 2 * 42);
  assert.equal(headers[headers.length - 3], 'v39');
  assert.deepEqual(trailers, ['x-sum', '42']);
  h.handler = echo;
});

test('framing of the answer: chunked for HTTP/1.1, close-delimited for 1.0, none for HEAD and 204, trailers after the last chunk', async () => {
  h.handler = (req, res) => {
    if (req.url === '/trailers') {
      res.writeHead(200, ['x-a', '1']);
      res.write('ab');
      res.addTrailers({ 'x-t': 'done' });
      res.end('c');
      return;
    }
    res.writeHead(200, ['x-a', '1']);
    res.write('ab');
    res.end('c');
  };
  const chunked = await exchange(h.port, ['GET /c HTTP/1.1\r\nHost: a\r\n\r\n'], { until: (t) => t.endsWith('0\r\n\r\n') });
  assert.equal(chunked.text, 'HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n');
  const trailers = await exchange(h.port, ['GET /trailers HTTP/1.1\r\nHost: a\r\n\r\n'], { until: (t) => t.endsWith('done\r\n\r\n') });
  assert.match(trailers.text, /\r\n1\r\nc\r\n0\r\nx-t: done\r\n\r\n$/);
  const old = await exchange(h.port, ['GET /old HTTP/1.0\r\n\r\n']);
  assert.equal(old.text, 'HTTP/1.1 200 OK\r\nx-a: 1\r\nconnection: close\r\n\r\nabc');
  assert.ok(old.closed, 'the end of the body is the end of the connection');
  const head = await exchange(h.port, ['HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n'], { until: (t) => t.endsWith('0\r\n\r\n') });
  assert.equal(head.text, 'HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nHTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n');
  h.handler = echo;
});

test('HTTP/1.0 keep-alive stays open when the length is known; Connection: close ends it and drops what follows', async () => {
  const keep = await exchange(h.port, ['GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 'GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], { gapMs: 50, until: (t) => t.endsWith('GET /b ') });
  assert.equal(count(keep.text, /connection: keep-alive\r\n/g), 2, keep.text);
  assert.equal(keep.closed, false);
  const seen = h.seen.length;
  const close = await exchange(h.port, ['GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n']);
  assert.ok(close.closed);
  assert.equal(count(close.text, /HTTP\/1\.1 200/g), 1, close.text);
  assert.match(close.text, /connection: close\r\n/);
  assert.deepEqual(h.seen.slice(seen).map((r) => r.url), ['/x']);
});

test('an answer given before the body was read closes the connection after it; the rest of the body is never parsed as a request', async () => {
  h.handler = (req, res) => {
    if (req.url === '/early') {
      res.writeHead(413, ['content-length', '0']);
      res.end();
      return;
    }
    echo(req, res);
  };
  const seen = h.seen.length;
  const body = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(5000);
  const r = await withTimeout(exchange(h.port, [`POST /early HTTP/1.1\r\nHost: a\r\ncontent-length: ${body.length + 1}\r\n\r\n`, body]), 5000, 'the answer and the close');
  assert.equal(r.text, 'HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  assert.ok(r.closed);
  assert.deepEqual(h.seen.slice(seen).map((q) => q.url), ['/early']);
  h.handler = echo;
});

test('a paused request delivers nothing until resumed; its body then arrives whole', async () => {
  let delivered = 0;
  let whilePaused = -1;
  h.handler = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      delivered += c.length;
      if (whilePaused < 0) {
        req.pause();
        const at = delivered;
        setTimeout(() => {
          whilePaused = delivered - at;
          req.resume();
        }, 100);
      }
    });
    req.on('end', () => {
      const n = String(Buffer.concat(chunks).length);
      res.writeHead(200, ['content-length', String(n.length)]);
      res.end(n);
    });
  };
  const r = await withTimeout(exchange(h.port, ['POST /p HTTP/1.1\r\nHost: a\r\ncontent-length: 300000\r\n\r\n', 'y'.repeat(300_000)], { until: (t) => t.endsWith('300000'), ms: 4000 }), 5000, 'answer');
  assert.equal(whilePaused, 0, 'no data while paused');
  assert.match(r.text, /\r\n\r\n300000$/);
  h.handler = echo;
});

test('a header value the client could not read safely is refused by writeHead, and nothing is sent', async () => {
  let thrown = '';
  h.handler = (_req, res) => {
    try {
      res.writeHead(200, ['x-bad', 'a\r\nset-cookie: evil']);
    } catch (e) {
      thrown = (e as NodeJS.ErrnoException).code ?? '';
    }
    res.writeHead(502, ['content-length', '0']);
    res.end();
  };
  const r = await exchange(h.port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'], { until: (t) => t.includes('\r\n\r\n') });
  assert.equal(thrown, 'ERR_INVALID_CHAR');
  assert.equal(r.text, 'HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
  h.handler = echo;
});

test('Expect: 100-continue is answered before the body; another expectation gets 417', async () => {
  const r = await exchange(h.port, ['POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\ncontent-length: 2\r\n\r\n', 'ok'], { gapMs: 50, until: (t) => t.endsWith('POST /e ok') });
  assert.match(r.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  const no = await exchange(h.port, ['GET /e HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n'], { until: (t) => t.includes('\r\n\r\n') });
  assert.match(no.text, /^HTTP\/1\.1 417 Expectation Failed\r\n/);
});

test('an upgrade leaves with its socket and the bytes sent after its head', async () => {
  const before = h.upgrades.length;
  const s = net.connect(h.port, address);
  await new Promise((r) => s.on('connect', r));
  s.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nearly');
  await withTimeout((async () => {
    while (h.upgrades.length === before) await new Promise((r) => setTimeout(r, 10));
  })(), 3000, 'upgrade');
  const u = h.upgrades[before];
  assert.equal(u.req.url, '/ws');
  assert.equal(u.head.toString(), 'early');
  // the socket is the handler's now: what it reads next is not parsed as HTTP
  const more = new Promise<string>((resolve) => u.socket.once('data', (d: Buffer) => resolve(d.toString())));
  s.write('not http');
  assert.equal(await withTimeout(more, 3000, 'tunnelled bytes'), 'not http');
  s.destroy();
  u.socket.destroy();
});

test('timeouts: a silent connection meets the header timeout, an idle one the idle timeout, a stalled request the stream idle timeout', async () => {
  const t = await start({ headerTimeoutMs: 200, idleTimeoutMs: 300, streamIdleTimeoutMs: 400 });
  try {
    t.handler = (req, res) => {
      if (req.url === '/ok') echo(req, res);
    };
    await exchange(t.port, [], { ms: 1500 });
    assert.deepEqual(t.events, ['clientError ERR_HTTP_REQUEST_TIMEOUT']);
    const idle = await exchange(t.port, ['GET /ok HTTP/1.1\r\nHost: a\r\n\r\n'], { ms: 2000 });
    assert.ok(idle.closed && idle.text.startsWith('HTTP/1.1 200'));
    assert.equal(t.events[1], 'timeout idle true');
    await exchange(t.port, ['POST /stall HTTP/1.1\r\nHost: a\r\ncontent-length: 10\r\n\r\nabc'], { ms: 2000 });
    assert.equal(t.events[2], 'timeout in-flight false');
  } finally {
    await t.close();
  }
});

test('a parse error is reported with the bytes that caused it, and nothing reaches the handler', async () => {
  const seen = h.seen.length;
  const events = h.events.length;
  await exchange(h.port, ['GET / HTTP/1.1\r\nHost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n']);
  assert.equal(h.seen.length, seen);
  assert.match(h.events[events], /^clientError HPE_/);
});
