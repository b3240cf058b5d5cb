// WebSocket through the mesh with the `ws` package on both ends (a peer no one here wrote):
// app → sidecar → mTLS → sidecar → app. Text, binary, ping/pong, close codes both ways, a 1 MiB
// message, a refused upgrade relayed as a normal answer, and the counters. 127.0.76.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { Mesh, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary }));
    ws.once('error', reject);
  });
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  })]);
}

describe('WebSocket through client sidecar ⇒ mTLS ⇒ server sidecar', () => {
  const mesh = new Mesh('127.0.76');
  let api: Pod;
  let web: Pod;
  const serverCloses: Array<{ code: number; reason: string }> = [];
  const clients: WebSocket[] = [];

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply('apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: api }\n---\napiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\n')).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    api = await mesh.addPod('api-1', 'api', {}, { token: await token('api') });
    web = await mesh.addPod('web-1', 'web', {}, { token: await token('web') });
    // The api app speaks WebSocket beside its JSON answers: echo, close codes on request, and a refusal.
    const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer, binary: boolean) => {
        const text = binary ? '' : data.toString();
        if (text.startsWith('close:')) ws.close(Number(text.slice(6)), 'server says bye');
        else ws.send(data, { binary });
      });
      ws.on('close', (code, reason) => serverCloses.push({ code, reason: reason.toString() }));
    });
    api.app.on('upgrade', (req, socket: Socket, head) => {
      if (req.url === '/refuse') {
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nx-app: api\r\n\r\nnot for you\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    const dump = async (p: Pod) => (await (await fetch(`http://${p.address}:15000/config_dump`)).json()) as Record<string, any>;
    await waitFor(async () => (await dump(api)).identity?.serial && (await dump(web)).identity?.serial, 20_000, 'certificates for api and web');
    await mesh.waitInSync(15_000, 2);
    // mTLS is in place once web's cluster for api expects api's identity
    await waitFor(async () => {
      const r = await mesh.request(web, 'api', '/warm');
      const hs = await metric(api, /^trellis_tls_handshakes_total\{direction="inbound"/);
      if (r.status !== 200 || hs === 0) throw new Error(`status ${r.status}, ${hs} inbound handshakes`);
      return true;
    }, 15_000, 'mTLS from web to api');
  });

  after(async () => {
    for (const c of clients) c.terminate();
    await mesh.close();
  });

  const connect = (path = '/echo') => {
    const ws = new WebSocket(`ws://${web.address}:15001${path}`, { headers: { host: 'api' }, maxPayload: 4 * 1024 * 1024 });
    clients.push(ws);
    return ws;
  };

  it('echoes text, binary, a 1 MiB message and ping/pong; close codes travel both ways', { timeout: 30_000 }, async () => {
    const ws = connect();
    await bounded(opened(ws), 10_000, 'open');
    ws.send('hello through the mesh');
    const text = await bounded(nextMessage(ws), 5000, 'text echo');
    assert.equal(text.binary, false);
    assert.equal(text.data.toString(), 'hello through the mesh');

    const bin = Buffer.from([0, 1, 2, 253, 254, 255, 0x0d, 0x0a]);
    ws.send(bin);
    const binEcho = await bounded(nextMessage(ws), 5000, 'binary echo');
    assert.equal(binEcho.binary, true);
    assert.deepEqual(binEcho.data, bin);

    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    ws.send(big);
    const bigEcho = await bounded(nextMessage(ws), 15_000, '1 MiB echo');
    assert.equal(bigEcho.data.length, big.length);
    assert.ok(bigEcho.data.equals(big), 'the 1 MiB message comes back byte for byte');

    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping('are you there');
    assert.equal((await bounded(pong, 5000, 'pong')).toString(), 'are you there');

    // the client closes with its own code; the server sees it
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(4001, 'client says bye');
    assert.equal(await bounded(closed, 5000, 'client close'), 4001);
    await waitFor(async () => serverCloses.some((c) => c.code === 4001 && c.reason === 'client says bye'), 5000, 'the server to see 4001');

    // the server closes with its own code; the client sees it
    const ws2 = connect();
    await bounded(opened(ws2), 10_000, 'open 2');
    const closed2 = new Promise<{ code: number; reason: string }>((resolve) => ws2.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws2.send('close:4002');
    assert.deepEqual(await bounded(closed2, 5000, 'server close'), { code: 4002, reason: 'server says bye' });
  });

  it('many WebSockets at once, and a refused upgrade comes back as the app answered it', { timeout: 30_000 }, async () => {
    const many = Array.from({ length: 20 }, () => connect());
    await bounded(Promise.all(many.map(opened)), 15_000, '20 opens');
    const replies = await bounded(Promise.all(many.map((ws, i) => {
      const p = nextMessage(ws);
      ws.send(`n${i}`);
      return p;
    })), 10_000, '20 echoes');
    assert.deepEqual(replies.map((r) => r.data.toString()), many.map((_, i) => `n${i}`));
    for (const ws of many) ws.close(1000);

    const refused = connect('/refuse');
    const res = await bounded(new Promise<{ status: number; body: string; app: string | undefined }>((resolve, reject) => {
      refused.once('unexpected-response', (_req, r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body, app: r.headers['x-app'] as string | undefined }));
      });
      refused.once('open', () => reject(new Error('the upgrade was not refused')));
      refused.once('error', () => undefined);
    }), 10_000, 'the refusal');
    assert.deepEqual(res, { status: 403, body: 'not for you\r\n', app: 'api' });

    // a request that matches no service is answered by the sidecar itself
    const nowhere = new WebSocket(`ws://${web.address}:15001/echo`, { headers: { host: 'nowhere' } });
    clients.push(nowhere);
    const noRoute = await bounded(new Promise<{ status: number; error: string | undefined }>((resolve) => {
      nowhere.once('unexpected-response', (_req, r) => resolve({ status: r.statusCode ?? 0, error: r.headers['x-trellis-error'] as string | undefined }));
      nowhere.once('error', () => undefined);
    }), 10_000, 'no route');
    assert.deepEqual(noRoute, { status: 404, error: 'no-route' });
  });

  it('counts upgrades by protocol and result, and the bytes they carried', { timeout: 20_000 }, async () => {
    await waitFor(async () => (await metric(web, /^trellis_upgrades_active\{direction="outbound",protocol="websocket"\}/)) === 0, 10_000, 'closed WebSockets to leave the active gauge');
    assert.ok((await metric(web, /^trellis_upgrades_total\{direction="outbound",protocol="websocket",result="switched"\}/)) >= 22);
    assert.ok((await metric(api, /^trellis_upgrades_total\{direction="inbound",protocol="websocket",result="switched"\}/)) >= 22);
    assert.ok((await metric(web, /^trellis_upgrades_total\{direction="outbound",protocol="websocket",result="refused"\}/)) >= 1);
    assert.ok((await metric(web, /^trellis_upgrades_total\{direction="outbound",protocol="websocket",result="failed"\}/)) >= 1);
    assert.ok((await metric(web, /^trellis_upgrade_bytes_total\{direction="outbound",protocol="websocket",from="downstream"\}/)) > 1024 * 1024);
    assert.ok((await metric(web, /^trellis_upgrade_bytes_total\{direction="outbound",protocol="websocket",from="upstream"\}/)) > 1024 * 1024);
    assert.ok((await metric(web, /^trellis_requests_total\{direction="outbound",[^}]*status_code="101"/)) >= 22, 'upgrades are requests too (status 101)');
    // the upgraded connections came over mTLS: the server side saw web's verified identity on them
    assert.ok((await metric(api, /^trellis_requests_total\{direction="inbound",[^}]*status_code="101"[^}]*source_identity="spiffe:\/\/cluster\.local\/ns\/default\/svc\/web"/)) >= 22);
  });
});
