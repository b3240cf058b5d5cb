import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer } from '../../../src/proxy/admin.js';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { ProxyTelemetry } from '../../../src/proxy/telemetry/request-telemetry.js';
import type { ListenerTelemetryConfig } from '../../../src/proxy/telemetry/telemetry-settings.js';
import type { ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { endpoint, freePort, httpUpstream, outboundConfig, request, withTimeout, type Upstream } from '../proxy-test-support.js';
import { openLines, otlpReceiver, thost } from './telemetry-support.js';
import { testTapSigner, verifierTrusting } from './tap-grant-support.js';

interface Seen {
  headers: Record<string, string | string[] | undefined>;
}

async function setup(n: number, telemetry: ListenerTelemetryConfig | undefined, opts: { accessLogPath?: string } = {}) {
  const seen: Seen[] = [];
  const up: Upstream = await httpUpstream(thost(n), (req, res) => {
    seen.push({ headers: req.headers });
    const status = req.url?.startsWith('/fail') ? 503 : 200;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('hello');
  });
  const telem = new ProxyTelemetry({ accessLogPath: opts.accessLogPath });
  telem.setLocal({ service: 'web', namespace: 'default', proxy: 'web-1' });
  const rt = new ProxyRuntime({ listenerDrainMs: 100, metrics: new ProxyMetrics({ processMetrics: false, telemetry: telem }) });
  // the admin tap opens only with a grant from the control plane: this signer stands in for it
  const signer = testTapSigner();
  const admin = new AdminServer({ address: thost(n + 1), port: 0, runtime: rt, tapGrants: verifierTrusting(signer, 'web-1') });
  await admin.listen();
  const port = await freePort(thost(n + 2));
  const cfg: ProxyConfig = outboundConfig({ address: thost(n + 2), port, services: [{ name: 'api', endpoints: [endpoint(up.address, up.port)] }] });
  cfg.listeners[0].telemetry = telemetry;
  rt.applyConfig(cfg);
  await withTimeout(rt.listening(), 3000, 'bind');
  const call = (path: string, headers: Record<string, string> = {}) => request({ host: thost(n + 2), port, path, headers: { host: 'api', ...headers } });
  return {
    seen, rt, telem, admin, call,
    tapUrl: (q: string) => `http://${thost(n + 1)}:${admin.port}/tap?${q}`,
    /** The Authorization header that opens `/tap?${q}` once. */
    grant: async (q: string) => ({ authorization: await signer.authorization('web-1', `/tap?${q}`) }),
    async close() {
      await rt.close();
      await admin.close();
      await up.close();
    },
  };
}

test('tap over the admin port: requests as they happen, filtered by path, ended at max; nothing built when nobody taps', async () => {
  const s = await setup(10, undefined);
  try {
    assert.equal(s.telem.outbound.on, false, 'no tap, no log, no tracing: the data path skips telemetry');
    // no grant from the control plane: refused before anything else, and counted
    const bare = await request({ host: thost(11), port: s.admin.port, path: '/tap?max=1' });
    assert.equal(bare.status, 401);
    assert.match(bare.body, /Trellis-Tap <grant>/);
    assert.equal(s.telem.outbound.on, false, 'a refused tap turns nothing on');
    const forgedGrant = await testTapSigner().authorization('web-1', '/tap?max=1');
    assert.equal((await request({ host: thost(11), port: s.admin.port, path: '/tap?max=1', headers: { authorization: forgedGrant } })).status, 403);
    const metrics = (await request({ host: thost(11), port: s.admin.port, path: '/metrics' })).body;
    assert.match(metrics, /trellis_admin_tap_refused_total\{reason="missing-grant"\} 1/);
    assert.match(metrics, /trellis_admin_tap_refused_total\{reason="unknown-key"\} 1/);
    const bad = await request({ host: thost(11), port: s.admin.port, path: '/tap?status=abc', headers: await s.grant('status=abc') });
    assert.equal(bad.status, 400);
    const tap = await openLines(s.tapUrl('path=/a&max=2'), await s.grant('path=/a&max=2'));
    assert.equal(tap.status, 200);
    assert.equal(s.telem.outbound.on, true);
    await s.call('/b');
    await s.call('/a/1', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    await s.call('/a/2?x=1');
    await withTimeout(tap.ended, 3000, 'tap ends after max');
    const events = tap.lines.map((l) => JSON.parse(l));
    assert.equal(events.length, 2);
    assert.deepEqual(events.map((e) => e.path), ['/a/1', '/a/2?x=1']);
    const e = events[0];
    assert.equal(e.direction, 'outbound');
    assert.equal(e.method, 'GET');
    assert.equal(e.authority, 'api');
    assert.equal(e.status, 200);
    assert.equal(e.source.service, 'web.default');
    assert.equal(e.destination.service, 'api.default');
    assert.equal(e.upstream, `${thost(10)}:${(s.seen.length, e.upstream.split(':')[1])}`);
    assert.equal(typeof e.latencyMs, 'number');
    assert.equal(e.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.ok(!('body' in e));
    // the stream left the hub: the flag falls back
    await withTimeout((async () => {
      while (s.telem.outbound.on) await new Promise((r) => setTimeout(r, 10));
    })(), 3000, 'tap flag off');
  } finally {
    await s.close();
  }
});

test('tap: status filter sees only failures', async () => {
  const s = await setup(20, undefined);
  try {
    const tap = await openLines(s.tapUrl('status=5xx'), await s.grant('status=5xx'));
    await s.call('/ok');
    await s.call('/fail/1');
    await s.call('/ok');
    await s.call('/fail/2');
    const lines = await tap.waitLines(2, 3000);
    assert.deepEqual(lines.map((l) => [JSON.parse(l).path, JSON.parse(l).status]), [['/fail/1', 503], ['/fail/2', 503]]);
    tap.close();
  } finally {
    await s.close();
  }
});

test('tracing: the app gets the caller\'s trace id with this hop as parent, and the span reaches the OTLP collector', async () => {
  const otlp = await otlpReceiver(thost(30));
  const s = await setup(31, { tracing: { samplingRate: 0, collector: otlp.url } });
  try {
    const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
    await s.call('/traced', { traceparent: `00-${tid}-00f067aa0ba902b7-01`, tracestate: 'vendor=1' });
    const h = s.seen[0].headers;
    const tp = String(h.traceparent).split('-');
    assert.equal(tp[1], tid);
    assert.notEqual(tp[2], '00f067aa0ba902b7');
    assert.equal(tp[3], '01');
    assert.equal(h.tracestate, 'vendor=1');
    assert.equal(h['x-b3-traceid'], tid);
    assert.equal(h['x-b3-spanid'], tp[2]);
    assert.equal(h['x-b3-parentspanid'], '00f067aa0ba902b7');
    assert.equal(h['x-b3-sampled'], '1');

    // rate 0 and no incoming context: a trace id still travels, unsampled, and no span is sent
    await s.call('/untraced');
    const tp2 = String(s.seen[1].headers.traceparent).split('-');
    assert.equal(tp2[3], '00');
    assert.notEqual(tp2[1], tid);

    await s.telem.flush();
    await otlp.waitFor((spans) => spans.length >= 1, 5000);
    assert.equal(otlp.spans.length, 1);
    const span = otlp.spans[0];
    assert.equal(span.traceId, tid);
    assert.equal(span.spanId, tp[2]);
    assert.equal(span.parentSpanId, '00f067aa0ba902b7');
    assert.equal(span.kind, 3);
    assert.equal(span.service, 'web');
    const attrs = Object.fromEntries(span.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
    assert.equal(attrs['trellis.route'], 'api');
    assert.equal(attrs['trellis.peer.service'], 'api.default');
    assert.equal(attrs['http.response.status_code'], '200');
    assert.equal(attrs['trellis.retries'], '0');
    assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
  } finally {
    await s.close();
    await otlp.close();
  }
});

test('tracing: rate 1 samples new traces; B3 single in, B3 single out', async () => {
  const otlp = await otlpReceiver(thost(40));
  const s = await setup(41, { tracing: { samplingRate: 1, collector: otlp.url } });
  try {
    await s.call('/new');
    const tp = String(s.seen[0].headers.traceparent).split('-');
    assert.equal(tp[3], '01');
    await s.call('/b3', { b3: 'a3ce929d0e0e4736-00f067aa0ba902b7-1' });
    const b3 = String(s.seen[1].headers.b3).split('-');
    assert.equal(b3[0], '0000000000000000a3ce929d0e0e4736');
    assert.equal(b3[2], '1');
    assert.equal(b3[3], '00f067aa0ba902b7');
    await s.telem.flush();
    await otlp.waitFor((spans) => spans.length >= 2, 5000);
    assert.deepEqual(otlp.spans.map((x) => x.traceId).sort(), [tp[1], '0000000000000000a3ce929d0e0e4736'].sort());
    assert.equal(otlp.spans.find((x) => x.traceId === tp[1])!.parentSpanId, undefined);
  } finally {
    await s.close();
    await otlp.close();
  }
});

test('access log: one JSON line per request with the schema; the errors filter keeps only failures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-access-'));
  const all = join(dir, 'all.log');
  const errs = join(dir, 'errors.log');
  try {
    const s = await setup(50, { accessLog: { format: 'json', filter: 'all' } }, { accessLogPath: all });
    try {
      await s.call('/one', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
      await request({ host: thost(52), port: (s.rt.activeListeners().get('outbound')!.address!).port, path: '/two', method: 'POST', headers: { host: 'api', 'content-type': 'text/plain' }, body: 'x'.repeat(100) });
      await s.call('/fail');
      await s.telem.flush();
    } finally {
      await s.close();
    }
    const lines = readFileSync(all, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    for (const l of lines) {
      assert.deepEqual(Object.keys(l), ['time', 'traceId', 'direction', 'source', 'destination', 'method', 'authority', 'path', 'route', 'status', 'bytesIn', 'bytesOut', 'durationMs', 'upstream', 'errorCode', 'retries']);
      assert.ok(!Number.isNaN(Date.parse(l.time)));
      assert.equal(l.source, 'web.default');
      assert.equal(l.destination, 'api.default');
      assert.match(l.upstream, /^127\.0\.34\.50:\d+$/);
      assert.ok(l.bytesOut > 'hello'.length, 'the response head and body');
    }
    assert.equal(lines[0].traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(lines[1].method, 'POST');
    assert.ok(lines[1].bytesIn >= 100);
    assert.equal(lines[2].status, 503);

    const s2 = await setup(60, { accessLog: { format: 'json', filter: 'errors' } }, { accessLogPath: errs });
    try {
      await s2.call('/ok');
      await s2.call('/fail/x');
      // answered by the proxy itself before any cluster: logged with its error code
      assert.equal((await s2.call('/nowhere', { host: 'unknown-service' })).status, 404);
      await s2.telem.flush();
    } finally {
      await s2.close();
    }
    const e = readFileSync(errs, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(e.map((l) => [l.path, l.status, l.errorCode]), [['/fail/x', 503, null], ['/nowhere', 404, 'no-route']]);
    assert.equal(e[1].upstream, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
