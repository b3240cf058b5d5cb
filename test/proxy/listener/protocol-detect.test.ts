// Protocol detection against real clients that no one here wrote (Node's tls, http2 and http
// clients) on 127.0.75.0/24, plus the byte-level table, the fallback timeout (configured short)
// and the counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { classifyFirstBytes, detectProtocol, type Detection } from '../../../src/proxy/listener/protocol-detect.js';
import { ProtocolDispatch } from '../../../src/proxy/listener/protocol-dispatch.js';
import { withTimeout } from '../proxy-test-support.js';

const address = '127.0.75.1';

test('classifyFirstBytes: TLS, the HTTP/2 preface, HTTP/1 request lines, and the rest', () => {
  const b = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));
  assert.equal(classifyFirstBytes(b([0x16, 0x03, 0x01, 0x02, 0x00])), 'tls');
  assert.equal(classifyFirstBytes(b([0x16])), 'more');
  assert.equal(classifyFirstBytes(b([0x16, 0x07])), 'tcp');
  assert.equal(classifyFirstBytes(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'http2');
  assert.equal(classifyFirstBytes(b('PRI * HTTP/2.0\r\n')), 'more');
  assert.equal(classifyFirstBytes(b('PRI * HTTP/1.1\r\n')), 'tcp');
  assert.equal(classifyFirstBytes(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), 'http1');
  assert.equal(classifyFirstBytes(b('GET /x HTTP/1.0\n')), 'http1');
  assert.equal(classifyFirstBytes(b('M-SEARCH * HTTP/1.1\r\n')), 'http1');
  assert.equal(classifyFirstBytes(b('DELETE /a?b=c HTTP/1.1\r\n')), 'http1');
  assert.equal(classifyFirstBytes(b('GE')), 'more');
  assert.equal(classifyFirstBytes(b('GET /no-line-end-yet')), 'more');
  assert.equal(classifyFirstBytes(b('GET /' + 'a'.repeat(100)), 64), 'http1', 'a request line longer than the peek limit is HTTP/1 by its start');
  // Line protocols whose first word is an HTTP method are not HTTP without the version.
  assert.equal(classifyFirstBytes(b('GET key\r\n')), 'tcp');
  assert.equal(classifyFirstBytes(b('get / HTTP/1.1\r\n')), 'tcp');
  assert.equal(classifyFirstBytes(b('HELO mail.example\r\n')), 'tcp');
  assert.equal(classifyFirstBytes(b([0x00, 0x00, 0x00, 0x01])), 'tcp');
  assert.equal(classifyFirstBytes(b('SSH-2.0-OpenSSH_9.2\r\n')), 'tcp');
});

/** A server whose every connection is detected; the handler sees the detection and reads the socket. */
async function detectingServer(timeoutMs: number, onDetected: (socket: net.Socket, d: Detection | null) => void): Promise<{ server: net.Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void detectProtocol(socket, { timeoutMs }).then((d) => onDetected(socket, d));
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

test('detects a real TLS client hello and hands the stream on from its first byte', async () => {
  const sockets: net.Socket[] = [];
  const got = await withTimeout(new Promise<{ d: Detection | null; first: number }>((resolve) => {
    void detectingServer(5000, (socket, d) => {
      socket.once('data', (b: Buffer) => resolve({ d, first: b[0] }));
      socket.resume();
    }).then((s) => {
      const c = tls.connect({ host: address, port: s.port, rejectUnauthorized: false });
      c.on('error', () => undefined);
      sockets.push(c);
      after.push(() => s.close());
    });
  }), 10_000, 'TLS detection');
  for (const s of sockets) s.destroy();
  assert.equal(got.d?.protocol, 'tls');
  assert.equal(got.d?.outcome, 'matched');
  assert.equal(got.first, 0x16);
  await runAfter();
});

const after: Array<() => Promise<void>> = [];
async function runAfter(): Promise<void> {
  while (after.length) await after.pop()!();
}

test('detects the HTTP/2 preface of a real http2 client, and an HTTP/1 request of a real http client', async () => {
  // http2: the node:http2 client sends the preface at once (prior knowledge, h2c)
  const h2 = await withTimeout(new Promise<{ d: Detection | null; head: string }>((resolve) => {
    void detectingServer(5000, (socket, d) => {
      socket.once('data', (b: Buffer) => resolve({ d, head: b.toString('latin1', 0, 24) }));
      socket.resume();
    }).then((s) => {
      const session = http2.connect(`http://${address}:${s.port}`);
      session.on('error', () => undefined);
      after.push(async () => {
        session.destroy();
        await s.close();
      });
    });
  }), 10_000, 'h2 detection');
  assert.equal(h2.d?.protocol, 'http2');
  assert.equal(h2.head, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  await runAfter();

  const h1 = await withTimeout(new Promise<{ d: Detection | null; head: string }>((resolve) => {
    void detectingServer(5000, (socket, d) => {
      socket.once('data', (b: Buffer) => resolve({ d, head: b.toString('latin1') }));
      socket.resume();
    }).then((s) => {
      const req = http.request({ host: address, port: s.port, path: '/hello', method: 'POST', headers: { 'content-length': '2' } });
      req.on('error', () => undefined);
      req.end('hi');
      after.push(async () => {
        req.destroy();
        await s.close();
      });
    });
  }), 10_000, 'http/1 detection');
  assert.equal(h1.d?.protocol, 'http1');
  assert.match(h1.head, /^POST \/hello HTTP\/1\.1\r\n/);
  await runAfter();
});

test('a request line split over several reads is waited for; a silent client falls back to TCP at the timeout', async () => {
  const split = await withTimeout(new Promise<{ d: Detection | null; text: string }>((resolve) => {
    void detectingServer(5000, (socket, d) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (t: string) => {
        text += t;
        if (text.endsWith('\r\n\r\n')) resolve({ d, text });
      });
      socket.resume();
    }).then((s) => {
      const c = net.connect(s.port, address);
      c.on('error', () => undefined);
      const parts = ['GE', 'T /a', 'bc HT', 'TP/1.1\r', '\nHost: x\r\n\r\n'];
      let i = 0;
      const next = () => {
        if (i < parts.length) c.write(parts[i++], () => setTimeout(next, 20));
      };
      next();
      after.push(async () => {
        c.destroy();
        await s.close();
      });
    });
  }), 10_000, 'split detection');
  assert.equal(split.d?.protocol, 'http1');
  assert.equal(split.text, 'GET /abc HTTP/1.1\r\nHost: x\r\n\r\n');
  await runAfter();

  // A silent client (a server-speaks-first protocol on a port not marked opaque): TCP after 150 ms.
  const silent = await withTimeout(new Promise<Detection | null>((resolve) => {
    void detectingServer(150, (socket, d) => {
      socket.end('220 banner\r\n');
      resolve(d);
    }).then((s) => {
      const c = net.connect(s.port, address);
      c.on('error', () => undefined);
      after.push(async () => {
        c.destroy();
        await s.close();
      });
    });
  }), 10_000, 'timeout fallback');
  assert.deepEqual(silent, { protocol: 'tcp', outcome: 'timeout', bytes: 0, ended: null });
  await runAfter();

  // Some bytes, then the client's FIN: TCP, and the bytes are handed over in `ended`.
  const ended = await withTimeout(new Promise<Detection | null>((resolve) => {
    void detectingServer(5000, (socket, d) => {
      socket.destroy();
      resolve(d);
    }).then((s) => {
      const c = net.connect(s.port, address, () => c.end('GE'));
      c.on('error', () => undefined);
      after.push(async () => {
        c.destroy();
        await s.close();
      });
    });
  }), 10_000, 'half-close');
  assert.equal(ended?.protocol, 'tcp');
  assert.equal(ended?.ended?.toString(), 'GE');
  await runAfter();
});

test('ProtocolDispatch hands each protocol to its handler, unknown ones to TCP, and counts every decision', async () => {
  const registry = new MetricRegistry();
  const seen: string[] = [];
  const dispatch = new ProtocolDispatch({
    direction: 'outbound',
    registry,
    timeoutMs: () => 150,
    handlers: {
      tcp: (s, d, dst) => {
        seen.push(`tcp:${d.outcome}:${dst?.port}`);
        s.destroy();
      },
      http1: (s, _d, dst) => {
        seen.push(`http1:${dst?.port}`);
        s.destroy();
      },
      // no tls or http2 handler: both go to tcp
    },
  });
  const server = net.createServer((s) => dispatch.accept(s, { address, port: 4242 }));
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const send = (bytes: string | null) => new Promise<void>((resolve) => {
      const c = net.connect(port, address, () => {
        if (bytes !== null) c.write(bytes);
      });
      c.on('error', () => undefined);
      c.on('close', () => resolve());
    });
    await withTimeout(send('GET / HTTP/1.1\r\n\r\n'), 5000, 'http1');
    await withTimeout(send('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 5000, 'h2');
    await withTimeout(send('\x16\x03\x01'), 5000, 'tls');
    await withTimeout(send('\x00\x01binary'), 5000, 'binary');
    await withTimeout(send(null), 5000, 'silent');
    assert.deepEqual(seen, ['http1:4242', 'tcp:matched:4242', 'tcp:matched:4242', 'tcp:unrecognized:4242', 'tcp:timeout:4242']);
    const text = await registry.metrics();
    for (const line of [
      'trellis_protocol_detections_total{direction="outbound",cluster="",port="4242",protocol="http1",outcome="matched"} 1',
      'trellis_protocol_detections_total{direction="outbound",cluster="",port="4242",protocol="http2",outcome="matched"} 1',
      'trellis_protocol_detections_total{direction="outbound",cluster="",port="4242",protocol="tls",outcome="matched"} 1',
      'trellis_protocol_detections_total{direction="outbound",cluster="",port="4242",protocol="tcp",outcome="unrecognized"} 1',
      'trellis_protocol_detections_total{direction="outbound",cluster="",port="4242",protocol="tcp",outcome="timeout"} 1',
    ]) assert.ok(text.includes(line), `${line} in\n${text}`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
