// AdsClient with several control-plane replicas: two real AdsServers (the control plane's xDS
// server) compiling the same resources, as replicas on one etcd state do. When the replica it is
// connected to dies or stops answering PINGs, the client moves to the other, quotes the versions
// it holds, and is sent nothing it already has.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from '../../../src/control/registry.js';
import { AdsServer } from '../../../src/control/xds/ads-server.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { AdsClient, type AdsClientOptions } from '../../../src/proxy/xds/ads-client.js';
import type { ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { nodeInfo, resources } from '../../control/helpers.js';

const logger = pino({ level: 'silent' });
const yaml = (name: string) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec: { ports: [{ port: 8000, protocol: http }] }  # a port without a protocol would add a listener too
`;

interface Replica { ads: AdsServer; registry: Registry; address: string }

async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('AdsClient failover between control-plane replicas', { timeout: 60_000 }, () => {
  let current: Resource[] = [...resources(yaml('api')), ...resources(yaml('web'))];
  const replicas: Replica[] = [];
  const clients: AdsClient[] = [];
  const relays: { relay: net.Server; sockets: net.Socket[] }[] = [];

  async function replica(host: string): Promise<Replica> {
    const registry = new Registry({ graceMs: 30_000, replicaId: host });
    const ads = new AdsServer({ registry, logger, resources: () => current });
    registry.onChange(() => ads.scheduleRefresh());
    const port = await ads.listen(host, 0);
    const r = { ads, registry, address: `${host}:${port}` };
    replicas.push(r);
    return r;
  }

  function client(servers: string[], extra: Partial<AdsClientOptions> = {}) {
    const configs: ProxyConfig[] = [];
    const c = new AdsClient({
      servers, node: nodeInfo({ service: 'web', address: '127.0.82.50' }), logger, backoff: { initialMs: 20, maxMs: 100 }, keepaliveMs: 0,
      onConfig: (config) => configs.push(config),
      ...extra,
    });
    clients.push(c);
    c.start();
    return { c, configs };
  }

  after(async () => {
    for (const c of clients) await c.close();
    for (const r of replicas) {
      await r.ads.close();
      await r.registry.close();
    }
    for (const { relay, sockets } of relays) {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('moves to the other replica when its stream dies, is sent nothing it holds, then only what changes', async () => {
    const a = await replica('127.0.82.1');
    const b = await replica('127.0.82.2');
    // the other replica's pick is drawn: with one other replica it is always b
    const { c, configs } = client([a.address, b.address]);
    await waitUntil(() => configs.length === 1, 10_000, () => JSON.stringify(c.status()));
    const onA = a.registry.get('web-127.0.82.50');
    await waitUntil(() => a.registry.get('web-127.0.82.50')?.ackedVersion === configs[0].version, 5000, () => JSON.stringify(onA));
    assert.equal(c.status().server, a.address, 'the first listed replica first');
    const received = structuredClone([...c.stats().byType.values()].map((s) => s.resources));

    await a.ads.close();
    await waitUntil(() => c.status().connected && c.status().server === b.address, 10_000, () => JSON.stringify(c.status()));
    await waitUntil(() => b.registry.get('web-127.0.82.50')?.ackedVersion === configs[0].version, 5000, () => JSON.stringify(b.registry.get('web-127.0.82.50')));
    const st = c.status();
    assert.equal(st.reconnects, 1);
    assert.equal(st.failovers, 1);
    assert.equal(b.registry.get('web-127.0.82.50')?.controlReplica, '127.0.82.2', 'the new replica holds the stream');
    // the same resources compile to the same versions: the new replica sends nothing
    const stats = b.ads.stats();
    assert.deepEqual([stats.connected, stats.responses, stats.resources, stats.held], [1, 0, 0, 4], JSON.stringify(stats));
    assert.deepEqual([...c.stats().byType.values()].map((s) => s.resources), received, 'nothing received again');
    assert.equal(configs.length, 1, 'no new config for the data path');

    // a change on the new replica: only the types it touches are sent
    current = [...current, ...resources(yaml('db'))];
    b.ads.refreshNow();
    await waitUntil(() => configs.length === 2, 5000, () => JSON.stringify(b.ads.stats()));
    assert.ok(configs[1].clusters.has('db.default'));
    const after = b.ads.stats();
    assert.ok(after.responses >= 1 && after.responses < 4, `only the changed types are pushed: ${JSON.stringify(after)}`);
    await waitUntil(() => b.registry.get('web-127.0.82.50')?.ackedVersion === configs[1].version, 5000, () => JSON.stringify(b.registry.get('web-127.0.82.50')));
  });

  it('leaves a replica that stops answering keep-alive PINGs', async () => {
    const a = await replica('127.0.82.3');
    const b = await replica('127.0.82.4');
    // replica a behind a TCP relay that can freeze, as a stopped (SIGSTOP) or cut-off process does
    let frozen = false;
    const sockets: net.Socket[] = [];
    const relay = net.createServer((down) => {
      const [host, port] = a.address.split(':');
      const up = net.connect(Number(port), host);
      sockets.push(down, up);
      down.on('data', (d) => { if (!frozen) up.write(d); });
      up.on('data', (d) => { if (!frozen) down.write(d); });
      down.on('error', () => up.destroy());
      up.on('error', () => down.destroy());
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    relays.push({ relay, sockets });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.82.5', resolve));
    const relayAddress = `127.0.82.5:${(relay.address() as AddressInfo).port}`;
    const { c, configs } = client([relayAddress, b.address], { keepaliveMs: 100, keepaliveTimeoutMs: 300 });
    await waitUntil(() => configs.length === 1 && c.status().server === relayAddress, 10_000, () => JSON.stringify(c.status()));

    frozen = true;
    await waitUntil(() => c.status().connected && c.status().server === b.address, 10_000, () => JSON.stringify(c.status()));
    assert.equal(c.status().failovers, 1);
    await waitUntil(() => b.registry.get('web-127.0.82.50')?.ackedVersion === configs[0].version, 5000, () => JSON.stringify(b.registry.get('web-127.0.82.50')));
    assert.equal(b.ads.stats().responses, 0, 'the config it holds is not sent again');
    assert.equal(configs.length, 1);
  });
});
