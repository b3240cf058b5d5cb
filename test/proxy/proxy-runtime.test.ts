import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxyRuntime } from '../../src/proxy/proxy-runtime.js';
import type { ProxyConfig } from '../../src/proxy/config/proxy-config.js';
import { cluster, endpoint, freePort, host, httpUpstream, onRequestHeads, outboundConfig, prefixRoute, rawUpstream, request, withTimeout, type Upstream } from './proxy-test-support.js';

async function runtimeWith(config: ProxyConfig, opts: ConstructorParameters<typeof ProxyRuntime>[0] = {}): Promise<ProxyRuntime> {
  const rt = new ProxyRuntime({ listenerDrainMs: 200, ...opts });
  rt.applyConfig(config);
  await withTimeout(rt.listening(), 3000, 'listeners bound');
  return rt;
}

async function named(n: number, name: string): Promise<Upstream> {
  return httpUpstream(host(n), (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.setHeader('x-upstream', name);
      res.end(`${name} ${req.method} ${req.url} host=${req.headers.host} xff=${req.headers['x-forwarded-for']} body=${body.length}`);
    });
  });
}

test('routes by Host to the right service, forwarding method, path, host, body and x-forwarded-for', async () => {
  const api = await named(40, 'api');
  const web = await named(41, 'web');
  const port = await freePort(host(42));
  const rt = await runtimeWith(
    outboundConfig({
      address: host(42),
      port,
      services: [
        { name: 'api', endpoints: [endpoint(api.address, api.port)] },
        { name: 'web', endpoints: [endpoint(web.address, web.port)] },
      ],
    }),
  );
  try {
    assert.equal(rt.ready, true);
    const a = await request({ host: host(42), port, path: '/items?x=1', headers: { host: 'api:15001', 'x-forwarded-for': '10.0.0.1' } });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'api GET /items?x=1 host=api:15001 xff=10.0.0.1, 127.0.0.1 body=0');
    const w = await request({ host: host(42), port, method: 'POST', headers: { host: 'WEB.default' }, body: 'x'.repeat(70_000) });
    assert.equal(w.body, 'web POST / host=WEB.default xff=127.0.0.1 body=70000');
  } finally {
    await rt.drain(100);
    await api.close();
    await web.close();
  }
});

test('hop-by-hop headers stay behind in both directions', async () => {
  let seen: http.IncomingHttpHeaders = {};
  const up = await httpUpstream(host(43), (req, res) => {
    seen = req.headers;
    res.writeHead(200, { 'keep-alive': 'timeout=5', 'x-private': 'drop-me', connection: 'x-private', 'x-kept': 'yes' });
    res.end('ok');
  });
  const port = await freePort(host(44));
  const rt = await runtimeWith(outboundConfig({ address: host(44), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  try {
    const r = await request({
      host: host(44),
      port,
      headers: { host: 'api', connection: 'keep-alive, x-hop', 'x-hop': '1', 'proxy-connection': 'x', te: 'trailers, deflate', upgrade: 'websocket', 'keep-alive': '5', 'x-end': 'e' },
      agent: new http.Agent({ keepAlive: true }),
    });
    assert.equal(r.status, 200);
    assert.equal(seen['x-hop'], undefined);
    assert.equal(seen['proxy-connection'], undefined);
    assert.equal(seen.upgrade, undefined);
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen.te, 'trailers');
    assert.equal(seen['x-end'], 'e');
    assert.equal(r.headers['x-private'], undefined);
    assert.equal(r.headers['keep-alive'] === 'timeout=5', false, "the upstream's keep-alive is not relayed");
    assert.equal(r.headers['x-kept'], 'yes');
  } finally {
    await rt.drain(100);
    await up.close();
  }
});

test('streams chunked bodies both ways and relays trailers', async () => {
  const up = await httpUpstream(host(45), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { trailer: 'x-len' });
      res.write('echo:');
      res.write(Buffer.concat(chunks));
      res.addTrailers({ 'x-len': String(Buffer.concat(chunks).length), 'x-req-trailer': req.trailers['x-t'] ?? 'none' });
      res.end();
    });
  });
  const port = await freePort(host(46));
  const rt = await runtimeWith(outboundConfig({ address: host(46), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  try {
    const reply = await withTimeout(
      new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
        const req = http.request({ host: host(46), port, method: 'PUT', headers: { host: 'api', trailer: 'x-t' }, agent: false }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ body, trailers: res.trailers }));
        });
        req.on('error', reject);
        req.write('part1-');
        setTimeout(() => {
          req.addTrailers({ 'x-t': 'req-trailer' });
          req.end('part2');
        }, 20);
      }),
      5000,
      'chunked echo',
    );
    assert.equal(reply.body, 'echo:part1-part2');
    assert.equal(reply.trailers['x-len'], '11');
    assert.equal(reply.trailers['x-req-trailer'], 'req-trailer');
  } finally {
    await rt.drain(100);
    await up.close();
  }
});

test('weighted split between two clusters', async () => {
  const v1 = await named(47, 'v1');
  const v2 = await named(48, 'v2');
  const port = await freePort(host(49));
  const cfg = outboundConfig({
    address: host(49),
    port,
    services: [
      { name: 'v1', endpoints: [endpoint(v1.address, v1.port)] },
      { name: 'v2', endpoints: [endpoint(v2.address, v2.port)] },
    ],
  });
  cfg.routes.get('outbound')!.virtualHosts.unshift({ name: 'api', domains: ['api'], routes: [prefixRoute('split', '/', [['v1.default', 3], ['v2.default', 1]])] });
  // A deterministic random source cycling through the unit interval makes the split exact.
  let i = 0;
  const rt = await runtimeWith(cfg, { random: () => ((i++ % 4) + 0.5) / 4 });
  try {
    const counts: Record<string, number> = {};
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const replies = await Promise.all(Array.from({ length: 40 }, () => request({ host: host(49), port, headers: { host: 'api' }, agent })));
    for (const r of replies) counts[r.headers['x-upstream'] as string] = (counts[r.headers['x-upstream'] as string] ?? 0) + 1;
    agent.destroy();
    assert.deepEqual(counts, { v1: 30, v2: 10 });
  } finally {
    await rt.drain(100);
    await v1.close();
    await v2.close();
  }
});

test('proxy errors: 404 no-route, 503 no endpoints, 502 refused, 504 timeout, all with x-trellis-error', async () => {
  const slow = await httpUpstream(host(50), (_req, res) => {
    const t = setTimeout(() => res.end('late'), 2000);
    res.on('close', () => clearTimeout(t));
  });
  const refusedPort = await freePort(host(51));
  const port = await freePort(host(52));
  const rt = await runtimeWith(
    outboundConfig({
      address: host(52),
      port,
      services: [
        { name: 'empty', endpoints: [] },
        { name: 'sick', endpoints: [endpoint(host(51), refusedPort, { healthy: false })] },
        { name: 'down', endpoints: [endpoint(host(51), refusedPort)] },
        { name: 'slow', endpoints: [endpoint(slow.address, slow.port)], routes: [prefixRoute('slow', '/', [['slow.default', 1]], 100)] },
      ],
    }),
  );
  try {
    const cases: Array<[string, number, string]> = [
      ['nowhere', 404, 'no-route'],
      ['empty', 503, 'no-healthy-upstream'],
      ['sick', 503, 'no-healthy-upstream'],
      ['down', 502, 'upstream-connect'],
      ['slow', 504, 'timeout'],
    ];
    for (const [h, status, code] of cases) {
      const r = await request({ host: host(52), port, headers: { host: h } });
      assert.equal(r.status, status, h);
      assert.equal(r.headers['x-trellis-error'], code, h);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.ok(r.body.length > 0 && r.body.length < 100);
    }
    const metrics = await rt.metrics.text();
    assert.match(metrics, /trellis_requests_total\{direction="outbound",route="slow",cluster="slow.default",status_code="504",error="timeout"[^}]*\} 1/);
    assert.match(metrics, /trellis_requests_total\{direction="outbound",route="",cluster="",status_code="404",error="no-route"[^}]*\} 1/);
  } finally {
    await rt.drain(100);
    await slow.close();
  }
});

test('a stale keep-alive socket is retried once on a fresh one for idempotent requests only', async () => {
  // Each upstream connection answers one request and then drops the next without a word: the
  // keep-alive race where the proxy's pooled socket is dead by the time it is used.
  let connections = 0;
  const up = await rawUpstream(host(53), (s) => {
    connections++;
    onRequestHeads(s, (_h, n) => (n === 0 ? s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok') : s.destroy()));
  });
  const port = await freePort(host(54));
  const rt = await runtimeWith(outboundConfig({ address: host(54), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  try {
    for (let i = 0; i < 4; i++) {
      const r = await request({ host: host(54), port, headers: { host: 'api' } });
      assert.equal(r.status, 200, `GET ${i}`);
    }
    assert.ok(connections >= 4, 'the dropped requests went again on fresh sockets');
    // POST is not idempotent: it must not be sent twice, so the failure surfaces.
    const post = await request({ host: host(54), port, method: 'POST', headers: { host: 'api', 'content-length': '0' } });
    assert.equal(post.status, 502);
    assert.equal(post.headers['x-trellis-error'], 'upstream-reset');
  } finally {
    await rt.drain(100);
    await up.close();
  }
});

test('the downstream going away cancels the upstream request', async () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => (upstreamClosed = r));
  const up = await httpUpstream(host(55), (req, res) => {
    res.writeHead(200);
    res.write('start');
    req.socket.on('close', () => upstreamClosed());
  });
  const port = await freePort(host(56));
  const rt = await runtimeWith(outboundConfig({ address: host(56), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        const req = http.get({ host: host(56), port, headers: { host: 'api' }, agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        setTimeout(() => reject(new Error('no data')), 3000).unref();
      }),
      4000,
      'first bytes',
    );
    await withTimeout(closed, 3000, 'upstream socket closed');
    await withTimeout(
      (async () => {
        while (!(await rt.metrics.text()).includes('status_code="499"')) await new Promise((r) => setTimeout(r, 10));
      })(),
      3000,
      'recorded as downstream-closed',
    );
  } finally {
    await rt.drain(100);
    await up.close();
  }
});

test('config swap under steady load drops no request', async () => {
  const a = await named(57, 'a');
  const b = await named(58, 'b');
  const port = await freePort(host(59));
  const cfgFor = (v: number, up: Upstream) =>
    outboundConfig({ version: String(v), address: host(59), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] });
  const rt = await runtimeWith(cfgFor(1, a));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    let stop = false;
    const statuses: number[] = [];
    const seenUpstreams = new Set<string>();
    const worker = async () => {
      while (!stop) {
        const r = await request({ host: host(59), port, headers: { host: 'api' }, agent });
        statuses.push(r.status);
        seenUpstreams.add(r.body.split(' ')[0]);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    // each swap waits for a few more answers rather than a fixed time, so a busy machine still
    // swaps under load (requests in flight on both sides of every swap), only more slowly
    const answered = async (more: number) => {
      const target = statuses.length + more;
      const deadline = Date.now() + 10_000;
      while (statuses.length < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    };
    for (let v = 2; v <= 21; v++) {
      await answered(4);
      rt.applyConfig(cfgFor(v, v % 2 === 0 ? b : a));
    }
    await answered(8);
    stop = true;
    await withTimeout(Promise.all(workers), 10_000, 'load workers');
    assert.ok(statuses.length >= 20 * 4 + 8, `only ${statuses.length} requests`);
    assert.deepEqual([...new Set(statuses)], [200], 'every request succeeded');
    assert.deepEqual([...seenUpstreams].sort(), ['a', 'b']);
    assert.equal(rt.activeConfig?.version, '21');
  } finally {
    agent.destroy();
    await rt.drain(100);
    await a.close();
    await b.close();
  }
});

test('an endpoint removed while a request is in flight lets it finish, then closes its socket', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => (arrived = r));
  const old = await httpUpstream(host(60), (_req, res) => {
    arrived();
    void gate.then(() => res.end('finished on the old endpoint'));
  });
  const next = await named(61, 'next');
  const port = await freePort(host(62));
  const cfg = (v: string, up: Upstream) =>
    outboundConfig({ version: v, address: host(62), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] });
  const rt = await runtimeWith(cfg('1', old));
  try {
    const pending = request({ host: host(62), port, headers: { host: 'api' } });
    await withTimeout(inFlight, 3000, 'request reached old endpoint');
    rt.applyConfig(cfg('2', next));
    const fresh = await request({ host: host(62), port, headers: { host: 'api' } });
    assert.match(fresh.body, /^next /, 'new requests use the new endpoint');
    release();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'finished on the old endpoint');
    const oldPool = rt.clusters.get('api.default')!.poolFor(old.address, old.port);
    assert.equal(oldPool, undefined);
    await withTimeout(
      (async () => {
        while (old.server.connections > 0 || (await new Promise<number>((res) => old.server.getConnections((_e, n) => res(n)))) > 0)
          await new Promise((r) => setTimeout(r, 10));
      })(),
      3000,
      'old endpoint socket closed',
    );
  } finally {
    await rt.drain(100);
    await old.close();
    await next.close();
  }
});

test('listeners: removed ones stop, a changed port rebinds, ready follows binding', async () => {
  const up = await named(63, 'api');
  const p1 = await freePort(host(64));
  const p2 = await freePort(host(64));
  const cfg = (port: number, v: string) => outboundConfig({ version: v, address: host(64), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] });
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  assert.equal(rt.ready, false, 'not ready before any config');
  rt.applyConfig(cfg(p1, '1'));
  await withTimeout(rt.listening(), 3000, 'bind 1');
  assert.equal(rt.ready, true);
  try {
    assert.equal((await request({ host: host(64), port: p1, headers: { host: 'api' } })).status, 200);
    rt.applyConfig(cfg(p2, '2'));
    await withTimeout(rt.listening(), 3000, 'bind 2');
    assert.equal((await request({ host: host(64), port: p2, headers: { host: 'api' } })).status, 200);
    await assert.rejects(request({ host: host(64), port: p1, headers: { host: 'api' } }), /ECONNREFUSED/);
    rt.applyConfig({ ...cfg(p2, '3'), listeners: [] });
    await new Promise((r) => setTimeout(r, 150));
    await assert.rejects(request({ host: host(64), port: p2, headers: { host: 'api' } }), /ECONNREFUSED/);
  } finally {
    await rt.drain(100);
    await up.close();
  }
});

test('drain: in-flight requests finish with connection: close, new connections are refused', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => (arrived = r));
  const up = await httpUpstream(host(65), (_req, res) => {
    arrived();
    void gate.then(() => res.end('done'));
  });
  const port = await freePort(host(66));
  const rt = await runtimeWith(outboundConfig({ address: host(66), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  const agent = new http.Agent({ keepAlive: true });
  try {
    const pending = request({ host: host(66), port, headers: { host: 'api' }, agent });
    await withTimeout(inFlight, 3000, 'in flight');
    const drained = rt.drain(3000);
    assert.equal(rt.ready, false, 'not ready while draining');
    await assert.rejects(request({ host: host(66), port, headers: { host: 'api' } }), /ECONNREFUSED/);
    release();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'done');
    assert.equal(r.headers.connection, 'close');
    await withTimeout(drained, 3000, 'drain resolves');
  } finally {
    agent.destroy();
    await rt.drain(0);
    await up.close();
  }
});

test('drain gives up after its time and cuts what is left', async () => {
  const up = await httpUpstream(host(67), () => undefined); // never answers
  const port = await freePort(host(68));
  const rt = await runtimeWith(outboundConfig({ address: host(68), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] }));
  try {
    const pending = request({ host: host(68), port, headers: { host: 'api' } }).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 50));
    await withTimeout(rt.drain(100), 3000, 'drain bounded');
    assert.equal(await pending, 'cut');
  } finally {
    await up.close();
  }
});

test('inbound listener sends everything to inbound|local', async () => {
  const app = await named(69, 'app');
  const port = await freePort(host(70));
  const cfg: ProxyConfig = {
    version: '1',
    listeners: [{ name: 'inbound', address: host(70), port, direction: 'inbound', routeConfigName: 'inbound' }],
    routes: new Map(),
    clusters: new Map([['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(app.address, app.port)] })]]),
    endpoints: new Map(),
  };
  const rt = await runtimeWith(cfg);
  try {
    const r = await request({ host: host(70), port, path: '/any/path', headers: { host: 'whatever:15006' } });
    assert.equal(r.status, 200);
    assert.match(r.body, /^app GET \/any\/path host=whatever:15006/);
    assert.match(await rt.metrics.text(), /trellis_requests_total\{direction="inbound",route="inbound",cluster="inbound\|local",status_code="200",error=""[^}]*\} 1/);
  } finally {
    await rt.drain(100);
    await app.close();
  }
});
