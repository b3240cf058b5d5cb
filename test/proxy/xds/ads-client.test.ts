// AdsClient against a real grpc-js ADS server on loopback: subscriptions, ACK/NACK, warming,
// reconnect and resync, and starting from the saved config.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AdsClient, type AdsClientOptions, type ConfigSource } from '../../../src/proxy/xds/ads-client.js';
import type { ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { decodeNode, type NodeInfo } from '../../../src/xds/node.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { combinedVersion } from '../../../src/xds/xds-versions.js';
import { AdsTestServer } from './ads-test-server.js';
import { webSnapshot, outboundRoutes, type Snapshot } from './xds-fixtures.js';

const logger = pino({ level: 'silent' });
const node: NodeInfo = {
  id: 'web-127.0.20.9', service: 'web', namespace: 'default', address: '127.0.20.9', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.20.9', port: 8080 }, labels: { version: 'v1' }, zone: 'z1', region: 'r1', version: 'test',
};
const tmpDirs: string[] = [];
after(() => { for (const d of tmpDirs) rmSync(d, { recursive: true, force: true }); });

function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'trellis-xds-'));
  tmpDirs.push(d);
  return d;
}

interface Harness {
  client: AdsClient;
  configs: { config: ProxyConfig; source: ConfigSource }[];
  waitConfigs(n: number, timeoutMs?: number): Promise<void>;
}

function startClient(server: string, extra: Partial<AdsClientOptions> = {}): Harness {
  const configs: Harness['configs'] = [];
  const client = new AdsClient({
    servers: [server], node, logger, backoff: { initialMs: 20, maxMs: 100 }, keepaliveMs: 0,
    onConfig: (config, source) => configs.push({ config, source }),
    ...extra,
  });
  client.start();
  return {
    client,
    configs,
    waitConfigs: (n, timeoutMs = 5000) => waitUntil(() => configs.length >= n, timeoutMs, () => `${configs.length} configs, wanted ${n}; status ${JSON.stringify(client.status())}`),
  };
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets in-flight messages arrive, for assertions that something did NOT happen. */
function settle(ms = 150): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The client's version of a config whose four types all carry `v`. */
const whole = (v: string) => combinedVersion([typeUrls.cluster, typeUrls.clusterLoadAssignment, typeUrls.listener, typeUrls.routeConfiguration].map((t) => [t, v] as const));

const short = (url: string) => url.slice(url.lastIndexOf('.') + 1);

test('subscribes CDS and LDS as wildcards with the Node, then EDS and RDS by name; ACKs; hands over one complete config', async () => {
  const server = await AdsTestServer.start('127.0.20.10', webSnapshot(), '1');
  const h = startClient(server.address);
  try {
    await h.waitConfigs(1);
    await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.version_info === '1');
    await server.waitForRequest((r) => r.type_url === typeUrls.clusterLoadAssignment && r.version_info === '1');
    const reqs = server.requests;
    // the first request carries the Node, and only the first
    assert.ok(reqs[0].node, 'first request carries the node');
    const n = decodeNode(reqs[0].node);
    assert.ok(typeof n !== 'string', String(n));
    assert.equal(n.id, 'web-127.0.20.9');
    assert.equal(n.address, '127.0.20.9');
    assert.deepEqual(n.labels, { version: 'v1' });
    assert.ok(reqs.slice(1).every((r) => !r.node));
    assert.deepEqual(reqs.slice(0, 2).map((r) => [short(r.type_url), r.resource_names, r.version_info, r.response_nonce]), [
      ['Cluster', [], '', ''],
      ['Listener', [], '', ''],
    ]);
    const eds = reqs.find((r) => r.type_url === typeUrls.clusterLoadAssignment)!;
    assert.deepEqual(eds.resource_names, ['api.default', 'inventory.default', 'web.default']);
    const rds = reqs.find((r) => r.type_url === typeUrls.routeConfiguration)!;
    assert.deepEqual(rds.resource_names, ['outbound']);
    // an ACK carries the response's version and nonce, no error
    const cdsAck = reqs.find((r) => r.type_url === typeUrls.cluster && r.version_info === '1')!;
    assert.notEqual(cdsAck.response_nonce, '');
    assert.equal(cdsAck.error_detail, undefined);

    assert.equal(h.configs.length, 1, 'one config, not one per response');
    const { config, source } = h.configs[0];
    assert.equal(source, 'xds');
    assert.equal(config.version, whole('1'), 'one version for the whole config, as the control plane computes it');
    assert.deepEqual(config.listeners.map((l) => [l.name, l.address, l.port, l.direction, l.routeConfigName]), [
      ['inbound', '127.0.20.9', 15006, 'inbound', 'inbound'],
      ['outbound', '127.0.20.9', 15001, 'outbound', 'outbound'],
    ]);
    assert.deepEqual([...config.routes.keys()].sort(), ['inbound', 'outbound']);
    assert.deepEqual([...config.clusters.keys()], ['api.default', 'inbound|local', 'inventory.default', 'web.default']);
    assert.deepEqual(config.endpoints.get('api.default')!.endpoints.map((e) => [e.address, e.zone, e.healthy, e.labels.version]), [
      ['127.0.20.21', 'z1', true, 'v1'], ['127.0.20.22', 'z2', true, 'v2'],
    ]);
    assert.equal(config.endpoints.get('inventory.default')!.endpoints[0].healthy, false);
    assert.deepEqual(config.endpoints.get('inbound|local')!.endpoints.map((e) => e.port), [8080]);

    const st = h.client.status();
    assert.equal(st.connected, true);
    assert.equal(st.ackedVersion, whole('1'));
    assert.equal(st.source, 'xds');
    assert.equal(st.lastNack, null);
    assert.ok(st.lastUpdate && !Number.isNaN(Date.parse(st.lastUpdate)));
    const res = h.client.resources();
    assert.equal(res.clusters.version, '1');
    assert.equal(res.assignments.resources.length, 3);

    // a new version with the same content: ACKed, but no new config for the data path
    server.setSnapshot('2', webSnapshot());
    await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.version_info === '2');
    await settle();
    assert.equal(h.configs.length, 1);
    assert.equal(h.client.status().ackedVersion, whole('2'));

    // a real change: the api split; one new config with the new version
    server.setSnapshot('3', webSnapshot('127.0.20.9', [90, 10]));
    await h.waitConfigs(2);
    const route = h.configs[1].config.routes.get('outbound')!.virtualHosts[0].routes[0];
    assert.deepEqual(route.clusters, [{ cluster: 'api-v1.default', weight: 90 }, { cluster: 'api-v2.default', weight: 10 }]);
    assert.equal(route.timeoutMs, 2500);
    assert.equal(h.configs[1].config.version, whole('3'));
  } finally {
    await h.client.close();
    await server.stop();
  }
});

test('a response with an unknown typed extension is NACKed as a whole and the old config stays', async () => {
  const server = await AdsTestServer.start('127.0.20.11', webSnapshot(), '1');
  const h = startClient(server.address);
  try {
    await h.waitConfigs(1);
    await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.version_info === '1');
    const bad: Snapshot = webSnapshot();
    bad.routes = [outboundRoutes(['api', 'inventory'], {
      api: [{ name: 'peak.0', match: { prefix: '/p' }, route: { cluster: 'api.default' }, typed_per_filter_config: { 'trellis.extension/peak-ewma': { type_url: 'type.googleapis.com/trellis.dev.PeakEwma', value: new Uint8Array() } } }],
    })];
    server.setSnapshot('2', bad);
    const nack = await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.error_detail !== undefined);
    assert.equal(nack.version_info, '1', 'a NACK carries the previous accepted version');
    assert.notEqual(nack.response_nonce, '');
    assert.equal(nack.error_detail!.code, 3);
    assert.match(nack.error_detail!.message, /trellis\.dev\.PeakEwma/);
    assert.match(nack.error_detail!.message, /route configuration "outbound"/);
    await settle();
    assert.equal(h.configs.length, 1, 'the refused config is never handed over');
    const st = h.client.status();
    assert.deepEqual(st.lastNack && [st.lastNack.version, st.lastNack.typeUrl], ['2', typeUrls.routeConfiguration]);
    assert.equal(h.client.resources().routes.version, '1');
    assert.equal(h.client.resources().routes.resources[0].virtualHosts[0].routes.length, 1);

    // the next good version is accepted and clears the NACK
    server.setSnapshot('3', webSnapshot('127.0.20.9', [50, 50]));
    await h.waitConfigs(2);
    assert.equal(h.configs[1].config.version, whole('3'));
    assert.equal(h.client.status().lastNack, null);
  } finally {
    await h.client.close();
    await server.stop();
  }
});

test('the config is handed over only once every referenced route table and assignment is there', async () => {
  const server = await AdsTestServer.start('127.0.20.12', webSnapshot(), '1');
  server.held.add(typeUrls.clusterLoadAssignment);
  const h = startClient(server.address);
  try {
    await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.version_info === '1');
    await settle();
    assert.equal(h.configs.length, 0, 'no config while endpoints are missing');
    server.release(typeUrls.clusterLoadAssignment);
    await h.waitConfigs(1);
    assert.equal(h.configs[0].config.endpoints.size, 4);

    // a new cluster: until its assignment arrives, the old config stays; existing clusters keep
    // their endpoints (warming)
    server.held.add(typeUrls.clusterLoadAssignment);
    const next = webSnapshot();
    next.clusters.push({ name: 'cart.default', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: 'cart.default' }, connect_timeout: { seconds: 1 } });
    next.assignments.push({ cluster_name: 'cart.default', endpoints: [{ locality: { zone: 'z1' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.20.41', port_value: 15006 } } } }] }] });
    server.setSnapshot('2', next);
    const sub = await server.waitForRequest((r) => r.type_url === typeUrls.clusterLoadAssignment && r.resource_names.includes('cart.default'));
    assert.deepEqual(sub.resource_names, ['api.default', 'cart.default', 'inventory.default', 'web.default']);
    await server.waitForRequest((r) => r.type_url === typeUrls.routeConfiguration && r.version_info === '2');
    await settle();
    assert.equal(h.configs.length, 1);
    server.release(typeUrls.clusterLoadAssignment);
    await h.waitConfigs(2);
    const cfg = h.configs[1].config;
    assert.deepEqual(cfg.endpoints.get('cart.default')!.endpoints.map((e) => e.address), ['127.0.20.41']);
    assert.equal(cfg.endpoints.get('api.default')!.endpoints.length, 2);
  } finally {
    await h.client.close();
    await server.stop();
  }
});

test('after the server restarts the client reconnects, resyncs and keeps its config meanwhile', async () => {
  let server = await AdsTestServer.start('127.0.20.13', webSnapshot(), '1');
  const port = Number(server.address.split(':')[1]);
  const h = startClient(server.address);
  try {
    await h.waitConfigs(1);
    await server.stop();
    await waitUntil(() => !h.client.status().connected, 3000, () => 'still connected');
    assert.equal(h.configs.length, 1, 'no config change while the control plane is away');
    await settle(200); // a few failed reconnects

    server = await AdsTestServer.start('127.0.20.13', webSnapshot('127.0.20.9', [80, 20]), '1', port);
    await h.waitConfigs(2);
    const reqs = server.requests;
    assert.ok(reqs[0].node, 'the new stream starts with the Node');
    assert.deepEqual(reqs.slice(0, 4).map((r) => short(r.type_url)), ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration'], 'resync in ADS order');
    assert.deepEqual(reqs[1].resource_names, ['api.default', 'inventory.default', 'web.default']);
    assert.equal(h.configs[1].source, 'xds');
    assert.deepEqual(h.configs[1].config.routes.get('outbound')!.virtualHosts[0].routes[0].clusters.map((c) => c.weight), [80, 20]);
    assert.equal(h.client.status().connected, true);
  } finally {
    await h.client.close();
    await server.stop();
  }
});

test('a saved config is served at start when no control plane answers; the control plane later takes over', async () => {
  const dir = stateDir();
  const server = await AdsTestServer.start('127.0.20.14', webSnapshot('127.0.20.9', [90, 10]), '7');
  const address = server.address;
  const first = startClient(address, { stateDir: dir });
  let original: ProxyConfig;
  try {
    await first.waitConfigs(1);
    original = first.configs[0].config;
  } finally {
    await first.client.close(); // waits for the save
    await server.stop();
  }
  assert.ok(existsSync(path.join(dir, 'xds-config.json')));
  assert.deepEqual(readdirNoTemp(dir), ['xds-config.json'], 'no temp file left behind');

  const second = startClient(address, { stateDir: dir });
  try {
    // handed over synchronously inside start(), before any answer
    assert.equal(second.configs.length, 1);
    assert.equal(second.configs[0].source, 'saved');
    assert.deepEqual(second.configs[0].config, original);
    assert.equal(second.client.status().source, 'saved');
    assert.equal(second.client.status().ackedVersion, null);
    await settle(200);
    assert.equal(second.configs.length, 1);

    // the control plane comes back with the same content: one hand-over, now from xds
    const back = await AdsTestServer.start('127.0.20.14', webSnapshot('127.0.20.9', [90, 10]), '1', Number(address.split(':')[1]));
    try {
      await second.waitConfigs(2);
      assert.equal(second.configs[1].source, 'xds');
      assert.equal(second.configs[1].config.version, whole('1'));
      assert.equal(second.client.status().source, 'xds');
      const eds = back.requests.find((r) => r.type_url === typeUrls.clusterLoadAssignment)!;
      assert.equal(eds.version_info, '', 'a resync asks without a saved version');
    } finally {
      await second.client.close();
      await back.stop();
    }
  } finally {
    await second.client.close();
  }
});

test('a corrupt state file is ignored, never fatal', async () => {
  const cases: [string, string][] = [
    ['not json', '{"format": "trellis-xds-st'],
    ['wrong format', JSON.stringify({ format: 'other', version: '1', types: {} })],
    ['bad protobuf', JSON.stringify({ format: 'trellis-xds-state/1', version: '1', savedAt: '', types: { [typeUrls.cluster]: { version: '1', resources: ['////////'] } } })],
    ['incomplete', JSON.stringify({ format: 'trellis-xds-state/1', version: '1', savedAt: '', types: { [typeUrls.listener]: { version: '1', resources: [] }, [typeUrls.cluster]: { version: '1', resources: ['CgVhcGkuZBgD'] } } })],
  ];
  for (const [label, text] of cases) {
    const dir = stateDir();
    writeFileSync(path.join(dir, 'xds-config.json'), text);
    const h = startClient('127.0.20.15:1', { stateDir: dir });
    try {
      assert.equal(h.configs.length, 0, label);
      assert.equal(h.client.status().source, null, label);
      await settle(50);
    } finally {
      await h.client.close();
    }
    assert.equal(readFileSync(path.join(dir, 'xds-config.json'), 'utf8'), text, `${label}: left as it was`);
  }
});

test('close() stops reconnecting', async () => {
  let attempts = 0;
  const h = startClient('127.0.20.16:1', {
    clock: {
      now: () => Date.now(),
      setTimeout: (fn, ms) => { attempts++; return setTimeout(fn, ms); },
      clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
    },
  });
  await waitUntil(() => attempts >= 2, 3000, () => `${attempts} attempts`);
  await h.client.close();
  const seen = attempts;
  await settle(300);
  assert.equal(attempts, seen);
});

function readdirNoTemp(dir: string): string[] {
  return readdirSync(dir).sort();
}
