// Tracing end to end: with MeshConfig tracing on, a request that arrives sampled keeps its trace
// id through web's sidecar, web's app (which forwards traceparent, as an instrumented app does),
// web's outbound sidecar and api's sidecar; each sidecar hop's span reaches an OTLP/HTTP receiver
// started here, linked parent to child.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

// the second half of this suite's range: tap.test.ts runs its mesh in the first half
const net = '127.0.66';
const base = 128;
let mesh: Mesh;
let web: Pod;
let apiSeen: http.IncomingHttpHeaders[] = [];
let webSeen: http.IncomingHttpHeaders[] = [];
const spans: Array<Record<string, any>> = [];
let collector: http.Server;

async function customPod(id: string, service: string, host: number, handler: http.RequestListener): Promise<Pod> {
  const address = `${net}.${host}`;
  const app = http.createServer(handler);
  await new Promise<void>((resolve, reject) => app.once('error', reject).listen(8000, address, resolve));
  const pod: Pod = { id, service, address, labels: {}, app };
  mesh.pods.set(id, pod);
  await mesh.startSidecar(pod);
  return pod;
}

before(async () => {
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a: any) => a.key === 'service.name').value.stringValue;
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, `${net}.${base + 2}`, resolve));
  const collectorPort = (collector.address() as AddressInfo).port;

  mesh = new Mesh(net, base);
  await mesh.startControl();
  await customPod('api-1', 'api', base + 40, (req, res) => {
    apiSeen.push(req.headers);
    req.resume();
    res.end('api');
  });
  web = await customPod('web-1', 'web', base + 41, (req, res) => {
    webSeen.push(req.headers);
    req.resume();
    // An instrumented app passes the context it received on to its own calls.
    const fwd: http.OutgoingHttpHeaders = { host: 'api' };
    for (const h of ['traceparent', 'tracestate']) if (req.headers[h]) fwd[h] = req.headers[h];
    const out = http.request({ host: `${net}.${base + 41}`, port: 15001, path: '/inner', headers: fwd, agent: false }, (r) => {
      r.resume();
      r.on('end', () => res.end(`web ${r.statusCode}`));
    });
    out.on('error', (err) => res.writeHead(502).end(err.message));
    out.end();
  });
  const applied = await mesh.apply(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  tracing: { samplingRate: 0, collector: "http://${net}.${base + 2}:${collectorPort}" }
`);
  assert.equal(applied.code, 0, applied.stderr);
  await mesh.waitInSync(15_000, 2);
  // the sidecars hold the new listener settings once their config dump shows them
  await waitFor(async () => {
    const dump = await (await fetch(`http://${web.address}:15000/config_dump`)).json() as { listeners: Array<{ telemetry?: unknown }> };
    return dump.listeners.every((l) => l.telemetry !== undefined);
  }, 15_000, 'tracing settings on web\'s listeners');
});

after(async () => {
  await mesh?.close();
  await new Promise<void>((resolve) => {
    collector?.close(() => resolve());
    collector?.closeAllConnections();
  });
});

function callWebInbound(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: web.address, port: 15006, path: '/start', headers: { host: 'web', ...headers }, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('a sampled request keeps its trace id across both sidecars and the app, and every hop\'s span is exported', async () => {
  apiSeen = [];
  webSeen = [];
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const callerSpan = 'b7ad6b7169203331';
  assert.equal(await callWebInbound({ traceparent: `00-${traceId}-${callerSpan}-01` }), 200);

  const atWeb = String(webSeen[0].traceparent).split('-');
  const atApi = String(apiSeen[0].traceparent).split('-');
  assert.equal(atWeb[1], traceId);
  assert.equal(atApi[1], traceId);
  assert.equal(atWeb[3], '01');
  assert.equal(apiSeen[0]['x-b3-traceid'], traceId);
  assert.notEqual(atWeb[2], callerSpan);
  assert.notEqual(atApi[2], atWeb[2]);

  await waitFor(async () => spans.filter((s) => s.traceId === traceId).length >= 3, 15_000, 'three spans at the collector');
  const mine = spans.filter((s) => s.traceId === traceId);
  const webIn = mine.find((s) => s.service === 'web' && s.kind === 2)!;
  const webOut = mine.find((s) => s.service === 'web' && s.kind === 3)!;
  const apiIn = mine.find((s) => s.service === 'api' && s.kind === 2)!;
  assert.ok(webIn && webOut && apiIn, JSON.stringify(mine));
  assert.equal(webIn.parentSpanId, callerSpan);
  assert.equal(webIn.spanId, atWeb[2], 'the app sees web\'s inbound span as its parent');
  assert.equal(webOut.parentSpanId, webIn.spanId, 'the app forwarded the context, so web\'s client span is a child of its server span');
  assert.equal(apiIn.parentSpanId, webOut.spanId);
  assert.equal(apiIn.spanId, atApi[2]);
  const attrs = (s: Record<string, any>) => Object.fromEntries(s.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
  assert.equal(attrs(webOut)['trellis.peer.service'], 'api.default');
  assert.equal(attrs(apiIn)['trellis.service'], 'api.default');
  assert.equal(attrs(apiIn)['http.response.status_code'], '200');
});

test('rate 0 and no incoming context: the trace id still travels, unsampled, and no span is exported', async () => {
  apiSeen = [];
  webSeen = [];
  assert.equal(await callWebInbound({}), 200);
  const atWeb = String(webSeen[0].traceparent).split('-');
  const atApi = String(apiSeen[0].traceparent).split('-');
  assert.equal(atWeb[3], '00');
  assert.equal(atApi[1], atWeb[1]);
  // spans of earlier tests may still arrive; none may carry this trace id after a full export period
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(spans.filter((s) => s.traceId === atWeb[1]).length, 0);
});
