// The API's endpoint rows gain the sidecars' live view: fetched from real admin servers over
// loopback, merged per endpoint, with an unresponsive sidecar left out after a short timeout.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiServer } from '../../../src/control/api/api-server.js';
import { EndpointStateCollector, mergeEndpointStates, type SidecarEndpointState } from '../../../src/control/api/endpoint-live-state.js';
import { Registry } from '../../../src/control/registry.js';
import type { Store } from '../../../src/control/store/store.js';
import { createLogger } from '../../../src/common/log.js';
import { nodeInfo } from '../helpers.js';

const net = '127.0.11';
const until = '2026-11-25T12:00:30.000Z';

function row(address: string, over: Partial<SidecarEndpointState>): SidecarEndpointState {
  return { cluster: 'api.default', address, port: 15006, state: 'healthy', ejectedUntil: null, inFlight: 0, ewmaMs: null, ...over };
}

describe('mergeEndpointStates', () => {
  it('ejected if any sidecar ejected it (latest until), in-flight summed, EWMA averaged over sidecars with a value', () => {
    const merged = mergeEndpointStates([
      [row('10.0.0.1', { state: 'ejected', ejectedUntil: '2026-11-25T12:00:10.000Z', inFlight: 2, ewmaMs: 10 })],
      [row('10.0.0.1', { state: 'ejected', ejectedUntil: Date.parse(until), inFlight: 3, ewmaMs: 30 }), row('10.0.0.2', { inFlight: 1 })],
      [row('10.0.0.1', { inFlight: null, ewmaMs: null })],
    ]);
    assert.deepEqual(merged.get('api.default|10.0.0.1:15006'), { ejected: true, ejectedUntil: until, inFlight: 5, ewmaMs: 20 });
    assert.deepEqual(merged.get('api.default|10.0.0.2:15006'), { ejected: false, ejectedUntil: null, inFlight: 1, ewmaMs: null });
  });
});

describe('GET /api/v1/endpoints with live state from the sidecars', () => {
  const servers: http.Server[] = [];
  const sockets = new Set<Socket>();
  const hits = new Map<string, number>();
  let api: ApiServer;
  let base = '';
  let closedPort = 0;
  const registry = new Registry();
  let now = 1_000_000;
  const collector = new EndpointStateCollector({ timeoutMs: 300, cacheMs: 1000, now: () => now });

  async function admin(address: string, rows: SidecarEndpointState[] | 'black-hole'): Promise<number> {
    const server = http.createServer((req, res) => {
      hits.set(address, (hits.get(address) ?? 0) + 1);
      if (rows === 'black-hole') return; // never answers: the collector must give up on it
      assert.equal(req.url, '/endpoints');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(rows));
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, address, resolve));
    return (server.address() as AddressInfo).port;
  }

  before(async () => {
    const a = await admin(`${net}.2`, [row(`${net}.4`, { state: 'ejected', ejectedUntil: until, inFlight: 2, ewmaMs: 12 }), row(`${net}.5`, { inFlight: 1 })]);
    const b = await admin(`${net}.3`, [row(`${net}.4`, { inFlight: 3, ewmaMs: 18 }), row(`${net}.5`, { cluster: 'other.default', state: 'ejected' })]);
    const c = await admin(`${net}.6`, 'black-hole');
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, `${net}.4`, resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    registry.connect(nodeInfo({ service: 'web', address: `${net}.2`, adminPort: a, app: undefined }));
    registry.connect(nodeInfo({ service: 'web', address: `${net}.3`, adminPort: b, app: undefined }));
    registry.connect(nodeInfo({ service: 'web', address: `${net}.6`, adminPort: c, app: undefined }));
    for (const h of [4, 5, 7]) registry.connect(nodeInfo({ service: 'api', address: `${net}.${h}`, adminPort: closedPort }));
    const store = { list: async () => [], onChange: () => () => undefined, revision: 0 } as unknown as Store;
    api = new ApiServer({ store, registry, logger: createLogger('api-test', 'silent'), endpointStates: collector });
    base = `http://${net}.1:${await api.listen(`${net}.1`, 0)}`;
  });

  after(async () => {
    await api.close();
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await registry.close();
  });

  it('merges what the sidecars report; an endpoint no sidecar reports keeps nulls', { timeout: 10_000 }, async () => {
    const rows = await (await fetch(`${base}/api/v1/endpoints`)).json() as Record<string, any>[];
    const by = (addr: string): Record<string, any> => rows.find((r) => r.service === 'api' && r.address === addr)!;
    assert.equal(rows.filter((r) => r.service === 'api').length, 3);
    assert.deepEqual([by(`${net}.4`).state, by(`${net}.4`).ejectedUntil, by(`${net}.4`).inFlight, by(`${net}.4`).ewmaMs], ['ejected', until, 5, 15]);
    assert.deepEqual([by(`${net}.5`).state, by(`${net}.5`).ejectedUntil, by(`${net}.5`).inFlight, by(`${net}.5`).ewmaMs], ['healthy', null, 1, null],
      'an ejection in another cluster does not count');
    assert.deepEqual([by(`${net}.7`).state, by(`${net}.7`).ejectedUntil, by(`${net}.7`).inFlight, by(`${net}.7`).ewmaMs], ['healthy', null, null, null]);
    assert.equal(hits.get(`${net}.6`), 1, 'the black hole was asked');
  });

  it('serves from its cache within a second, and asks again after', { timeout: 10_000 }, async () => {
    const before = hits.get(`${net}.2`) ?? 0;
    now += 500;
    await fetch(`${base}/api/v1/endpoints`);
    assert.equal(hits.get(`${net}.2`), before);
    now += 1000;
    await fetch(`${base}/api/v1/endpoints`);
    assert.equal(hits.get(`${net}.2`), before + 1);
  });
});
