// HTTP/1.1 apps calling each other over the HTTP/2 hop between sidecars must see no difference
// (Linkerd's transparent upgrade): two sidecars in this process, the caller's outbound listener
// sending to the callee's inbound listener over h2c, the callee's app an HTTP/1.1 server that
// records exactly what reached it. Hop-by-hop headers, Host, Content-Length and chunked framing,
// 100-continue, HEAD, 204 and 304, response trailers. Addresses: 127.0.72.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import type { ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { defaultHttp2Options } from '../../../src/proxy/cluster/pool/h2-session-pool.js';
import { cluster, endpoint, freePort, outboundConfig, request, withTimeout } from '../proxy-test-support.js';

const h = (n: number) => `127.0.72.${n}`;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

describe('HTTP/1.1 over the HTTP/2 hop between sidecars', () => {
  let app: http.Server;
  let seen: Seen[] = [];
  let client: ProxyRuntime;
  let server: ProxyRuntime;
  let outPort = 0;
  let inPort = 0;

  before(async () => {
    app = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
        const status = /^\/status\/(\d+)/.exec(req.url!);
        if (status) {
          res.writeHead(Number(status[1]), { etag: '"v1"', 'x-app': 'yes' });
          res.end();
          return;
        }
        if (req.url === '/trailers') {
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
          res.write('part1 ');
          res.addTrailers({ 'x-checksum': 'abc123' });
          res.end('part2');
          return;
        }
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive', 'keep-alive': 'timeout=5' });
          res.write('a'.repeat(1000));
          res.end('b'.repeat(1000));
          return;
        }
        const out = JSON.stringify({ ok: true, len: body.length });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), 'x-app': 'yes' });
        res.end(req.method === 'HEAD' ? undefined : out);
      });
    });
    await new Promise<void>((resolve) => app.listen(0, h(3), resolve));
    const appPort = (app.address() as net.AddressInfo).port;
    inPort = await freePort(h(2));
    outPort = await freePort(h(1));
    server = new ProxyRuntime({ listenerDrainMs: 100 });
    const inbound: ProxyConfig = {
      version: '1',
      listeners: [{ name: 'inbound', address: h(2), port: inPort, direction: 'inbound', routeConfigName: 'inbound' }],
      routes: new Map(),
      clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(h(3), appPort)] })]]),
      endpoints: new Map(),
    };
    server.applyConfig(inbound);
    const out = outboundConfig({ address: h(1), port: outPort, services: [{ name: 'api', endpoints: [endpoint(h(2), inPort)] }] });
    out.clusters.set('api.default', { ...out.clusters.get('api.default')!, upstreamProtocol: 'h2', http2: defaultHttp2Options });
    client = new ProxyRuntime({ listenerDrainMs: 100 });
    client.applyConfig(out);
    await withTimeout(Promise.all([server.listening(), client.listening()]), 5000, 'listeners bound');
  });

  after(async () => {
    await client.close();
    await server.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  const call = (opts: Parameters<typeof request>[0] extends infer O ? Omit<O & object, 'host' | 'port'> : never) => {
    seen = [];
    return request({ host: h(1), port: outPort, ...opts });
  };

  it('travels as HTTP/2 between the sidecars', async () => {
    await call({ path: '/', headers: { host: 'api' } });
    const text = await client.metrics.text();
    assert.match(text, /trellis_upstream_connections_total\{cluster="api\.default"\} 1/);
    const pool = client.clusters.get('api.default')!.poolFor(h(2), inPort)!;
    assert.equal(pool.h2Sessions, 1, 'one HTTP/2 session carries the requests');
  });

  it('Host arrives unchanged; hop-by-hop headers (Connection and what it names, Keep-Alive, TE) stay behind', async () => {
    const r = await call({ path: '/a?q=1', headers: { host: 'api:8080', connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', 'x-custom': 'v', te: 'gzip', 'x-multi': ['1', '2'] } });
    assert.equal(r.status, 200);
    const s = seen[0];
    assert.equal(s.url, '/a?q=1');
    assert.equal(s.headers.host, 'api:8080');
    assert.equal(s.headers['x-custom'], 'v');
    assert.equal(s.headers['x-multi'], '1, 2');
    for (const hop of ['x-hop', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']) assert.equal(s.headers[hop], undefined, `${hop} crossed`);
    assert.equal(s.body, '');
    assert.equal(s.headers['content-length'], undefined, 'a GET without a body gains no Content-Length');
    assert.equal(r.headers['x-app'], 'yes');
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));
  });

  it('a Content-Length body arrives with its Content-Length; a chunked one arrives chunked', async () => {
    const fixed = 'x'.repeat(5000);
    await call({ method: 'POST', path: '/len', headers: { host: 'api', 'content-length': String(fixed.length) }, body: fixed });
    assert.equal(seen[0].headers['content-length'], '5000');
    assert.equal(seen[0].headers['transfer-encoding'], undefined);
    assert.equal(seen[0].body, fixed);

    const chunked: string = await new Promise((resolve, reject) => {
      seen = [];
      const req = http.request({ host: h(1), port: outPort, method: 'POST', path: '/chunks', headers: { host: 'api' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', reject);
      req.write('first,');
      setTimeout(() => req.end('second'), 50);
    });
    assert.equal(chunked, '200');
    assert.equal(seen[0].headers['transfer-encoding'], 'chunked');
    assert.equal(seen[0].headers['content-length'], undefined);
    assert.equal(seen[0].body, 'first,second');
  });

  it('Expect: 100-continue gets its 100 and the body goes through', async () => {
    const status: number = await new Promise((resolve, reject) => {
      seen = [];
      const req = http.request({ host: h(1), port: outPort, method: 'PUT', path: '/upload', headers: { host: 'api', expect: '100-continue', 'content-length': '11' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.on('continue', () => req.end('hello world'));
      setTimeout(() => reject(new Error('no 100 Continue')), 4000).unref();
    });
    assert.equal(status, 200);
    assert.equal(seen[0].body, 'hello world');
    assert.equal(seen[0].headers.expect, undefined, 'Expect is hop-by-hop');
  });

  it('HEAD keeps its Content-Length and has no body; 204 and 304 have none either', async () => {
    const head = await call({ method: 'HEAD', path: '/', headers: { host: 'api' } });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(JSON.stringify({ ok: true, len: 0 }))));
    for (const code of [204, 304]) {
      const r = await call({ path: `/status/${code}`, headers: { host: 'api' } });
      assert.equal(r.status, code);
      assert.equal(r.body, '');
      assert.equal(r.headers.etag, '"v1"');
      assert.equal(r.headers['transfer-encoding'], undefined, `${code} without chunked framing`);
    }
  });

  it('a chunked response stays whole (and loses the app\'s Connection and Keep-Alive); response trailers come through', async () => {
    const r = await call({ path: '/chunked', headers: { host: 'api' } });
    assert.equal(r.body, 'a'.repeat(1000) + 'b'.repeat(1000));
    assert.equal(r.headers['keep-alive'], undefined);
    const t = await call({ path: '/trailers', headers: { host: 'api', te: 'trailers' } });
    assert.equal(t.body, 'part1 part2');
    assert.equal(t.trailers['x-checksum'], 'abc123');
  });

  it('many requests share the one session (streams, not connections)', async () => {
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => call({ path: `/p${i}`, headers: { host: 'api' } })));
    assert.deepEqual(rs.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.headers['x-trellis-error']} ${r.body}`), []);
    const pool = client.clusters.get('api.default')!.poolFor(h(2), inPort)!;
    assert.equal(pool.h2Sessions, 1);
  });
});
