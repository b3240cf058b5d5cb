// Hardening with real `trellis proxy` processes and the flags that set it: smuggling and oversized
// requests refused on both sides of the mesh (none reaching the app), a slowloris cut by a short
// header timeout, the connection cap shedding with 503 and recovering, the memory guard shedding
// with the sidecar still up, every refusal in the sidecars' /metrics, the limits in /config_dump.
// Range 127.0.74.0/24.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

const mesh = new Mesh('127.0.74');
let web: Pod;
let api: Pod;
let lean: Pod;
/** Paths the api app saw. */
const apiSaw: string[] = [];
const flags = ['--header-timeout', '500ms', '--max-connections', '6', '--max-headers', '20', '--max-request-line', '1KiB', '--stream-idle-timeout', '2s'];

before(async () => {
  await mesh.startControl();
  api = await mesh.addPod('api-1', 'api', {}, { sidecarArgs: flags });
  api.app.on('request', (req) => apiSaw.push(req.url ?? ''));
  web = await mesh.addPod('web-1', 'web', {}, { sidecarArgs: flags });
  lean = await mesh.addPod('lean-1', 'lean', {}, { sidecarArgs: ['--max-memory', '1MiB'] });
  await mesh.waitInSync(20_000, 3);
  await waitFor(async () => (await mesh.request(web, 'api', '/warm')).status === 200, 15_000, 'web to reach api');
});

after(async () => {
  await mesh.close();
});

function raw(address: string, port: number, bytes: string | string[], waitMs = 5000, gapMs = 5): Promise<{ status: number; text: string; closed: boolean }> {
  const parts = typeof bytes === 'string' ? [bytes] : bytes;
  return new Promise((resolve) => {
    const s = net.connect(port, address);
    let text = '';
    let gaveUp = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    const timer = setTimeout(() => { gaveUp = true; s.destroy(); }, waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, closed: !gaveUp });
    });
    s.on('connect', async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p, 'latin1');
        if (parts.length > 1) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

async function metrics(pod: Pod): Promise<string> {
  return (await fetch(`http://${pod.address}:15000/metrics`)).text();
}

function refused(text: string, direction: string, reason: string): number {
  return Number(new RegExp(`^trellis_refused_total\\{direction="${direction}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: api\r\n\r\n';
const tooMany = Array.from({ length: 25 }, (_, i) => `x-h${i}: v\r\n`).join('');

test('the flags are in /config_dump', async () => {
  const dump = (await (await fetch(`http://${web.address}:15000/config_dump`)).json()) as { limits: Record<string, number>; overload: Record<string, unknown> };
  assert.equal(dump.limits.headerTimeoutMs, 500);
  assert.equal(dump.limits.maxConnections, 6);
  assert.equal(dump.limits.maxHeaders, 20);
  assert.equal(dump.limits.maxRequestLineBytes, 1024);
  assert.equal(dump.limits.maxHeaderBytes, 60 * 1024);
  assert.equal(dump.overload.maxConnections, 6);
});

test('smuggling and oversized requests are refused at the outbound and the inbound sidecar, none reaching the app', async () => {
  const targets = [
    { pod: web, port: 15001, direction: 'outbound' },
    { pod: api, port: 15006, direction: 'inbound' },
  ];
  const cases = [
    { bytes: 'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled, status: 400, reason: 'conflicting-length' },
    { bytes: 'POST / HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled, status: 400, reason: 'invalid-transfer-encoding' },
    { bytes: `GET / HTTP/1.1\r\nHost: api\r\n${tooMany}\r\n` + smuggled, status: 431, reason: 'too-many-headers' },
    { bytes: `GET /${'a'.repeat(2048)} HTTP/1.1\r\nHost: api\r\n\r\n` + smuggled, status: 414, reason: 'uri-too-long' },
    { bytes: 'GET / HTTP/1.1\r\nHost: api\r\nx-a: b\0c\r\n\r\n' + smuggled, status: 400, reason: 'invalid-header' },
  ];
  for (const t of targets) {
    for (const c of cases) {
      const before = refused(await metrics(t.pod), t.direction, c.reason);
      const r = await raw(t.pod.address, t.port, c.bytes);
      assert.equal(r.status, c.status, `${t.direction} ${c.reason}: ${r.text.slice(0, 120)}`);
      assert.ok(r.closed, `${t.direction} ${c.reason}: connection closed`);
      assert.equal(refused(await metrics(t.pod), t.direction, c.reason), before + 1, `${t.direction} ${c.reason} counted`);
    }
  }
  assert.deepEqual(apiSaw.filter((p) => p.includes('smuggled') || p.startsWith('/aaa')), []);
  assert.equal((await mesh.request(web, 'api', '/still-fine')).status, 200);
});

test('a slowloris is answered 408 and closed by the header timeout', async () => {
  const before = refused(await metrics(api), 'inbound', 'header-timeout');
  const r = await raw(api.address, 15006, 'GET / HTTP/1.1\r\nHost: api\r\nx-slow: yes\r\n'.split(''), 10_000, 150);
  assert.ok(r.closed);
  assert.equal(r.status, 408, r.text);
  assert.equal(refused(await metrics(api), 'inbound', 'header-timeout'), before + 1);
});

test('past --max-connections a new connection gets 503 overloaded; the sidecar serves again once they close', async () => {
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      held.push(await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(15001, web.address, () => resolve(s));
        s.on('error', reject);
      }));
    }
    const r = await waitFor(async () => {
      const x = await raw(web.address, 15001, 'GET / HTTP/1.1\r\nHost: api\r\n\r\n');
      return x.status === 503 ? x : undefined;
    }, 10_000, 'a 503 past the cap');
    assert.match(r.text, /\r\nx-trellis-error: overloaded\r\n/);
    assert.ok(refused(await metrics(web), 'outbound', 'connection-limit') >= 1);
  } finally {
    for (const s of held) s.destroy();
  }
  await waitFor(async () => (await mesh.request(web, 'api', '/after-cap')).status === 200, 10_000, 'web to serve again');
});

test('--max-memory below the sidecar\'s footprint sheds every request with 503 overloaded; the sidecar stays up', async () => {
  const r = await raw(lean.address, 15001, 'GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 503, r.text);
  assert.match(r.text, /\r\nx-trellis-error: overloaded\r\n/);
  assert.equal((await fetch(`http://${lean.address}:15000/live`)).status, 200);
  assert.ok(refused(await metrics(lean), 'outbound', 'overload-memory') >= 1);
});
