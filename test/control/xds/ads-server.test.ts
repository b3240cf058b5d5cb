import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/log.js';
import { Registry } from '../../../src/control/registry.js';
import type { DiscoveryResponse } from '../../../src/control/xds/ads-service-definition.js';
import { AdsServer } from '../../../src/control/xds/ads-server.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { unpackAny } from '../../../src/xds/any.js';
import { encodeNode } from '../../../src/xds/node.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { combinedVersion, emptyVersion, resourcesVersion } from '../../../src/xds/xds-versions.js';
import { createHash } from 'node:crypto';
import { AdsTestClient, loopback, ManualClock, nodeInfo, resources, waitFor, withTimeout } from '../helpers.js';

const CDS = typeUrls.cluster;
const EDS = typeUrls.clusterLoadAssignment;
const LDS = typeUrls.listener;
const RDS = typeUrls.routeConfiguration;

const service = (name: string): Resource[] => resources(`
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
# http: the pushes counted below are those of HTTP services (a port without a protocol adds a detecting listener)
spec: { ports: [{ port: 80, protocol: http }] }
`);

const digestOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64');

function names(r: DiscoveryResponse): string[] {
  return r.resources.map((a) => {
    const obj = unpackAny(a) as { name?: string; cluster_name?: string };
    return obj.name ?? obj.cluster_name ?? '?';
  });
}

describe('AdsServer', () => {
  const clock = new ManualClock();
  const registry = new Registry({ clock, graceMs: 10_000 });
  let current: Resource[] = service('api');
  const ads = new AdsServer({ registry, logger: createLogger('test', 'silent'), resources: () => current });
  registry.onChange(() => ads.scheduleRefresh());
  let target = '';
  const clients: AdsTestClient[] = [];
  const connect = (): AdsTestClient => {
    const c = new AdsTestClient(target);
    clients.push(c);
    return c;
  };

  before(async () => {
    target = `${loopback(1)}:${await ads.listen(loopback(1), 0)}`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await ads.close();
    await registry.close();
  });

  it('serves state of the world with content-derived versions per type, records ACKs and NACKs, ignores stale nonces, pushes only what changed', async () => {
    const web = nodeInfo({ service: 'web', address: '127.0.1.20' });
    const client = connect();

    client.send({ node: encodeNode(web), type_url: CDS, resource_names: [] });
    const cds1 = await client.next();
    assert.equal(cds1.type_url, CDS);
    assert.match(cds1.version_info, /^[0-9a-f]{16}$/);
    assert.equal(cds1.version_info, resourcesVersion(cds1.resources.map((a, i) => [names(cds1)[i], digestOf(a.value)])), 'the version is a digest of the content');
    assert.ok(cds1.nonce);
    assert.deepEqual(names(cds1), ['api.default', 'inbound|local', 'web.default']);
    assert.equal(registry.get(web.id)?.state, 'connected');
    client.send({ type_url: CDS, version_info: cds1.version_info, response_nonce: cds1.nonce });

    client.send({ type_url: EDS, resource_names: ['web.default'] });
    const eds1 = await client.next();
    assert.equal(eds1.type_url, EDS, 'an ACK is not answered; the next response is for EDS');
    assert.deepEqual(names(eds1), ['web.default']);
    assert.notEqual(eds1.nonce, cds1.nonce);
    client.send({ type_url: EDS, version_info: eds1.version_info, response_nonce: eds1.nonce, resource_names: ['web.default'] });

    client.send({ type_url: LDS });
    const lds1 = await client.next();
    assert.deepEqual(names(lds1), ['inbound', 'outbound']);
    client.send({ type_url: LDS, version_info: lds1.version_info, response_nonce: lds1.nonce });
    client.send({ type_url: RDS, resource_names: ['outbound'] });
    const rds1 = await client.next();
    assert.deepEqual(names(rds1), ['outbound']);
    client.send({ type_url: RDS, version_info: rds1.version_info, response_nonce: rds1.nonce, resource_names: ['outbound'] });
    // one version for the proxy, from the version of each of its types
    const held = new Map<string, string>([[CDS, cds1.version_info], [EDS, eds1.version_info], [LDS, lds1.version_info], [RDS, rds1.version_info]]);
    const v1 = combinedVersion([...held]);
    await waitFor(() => registry.get(web.id)?.ackedVersion === v1, 'the whole config ACKed');
    assert.equal(registry.get(web.id)?.sentVersion, v1);

    // a new Service changes the snapshot: only what changed is pushed, under new versions, in ADS
    // order: the Clusters whole (a SotW Cluster or Listener response holds them all) and the route
    // table; the subscribed endpoints (web.default) and the listeners are the same
    current = [...current, ...service('db')];
    ads.scheduleRefresh();
    const pushed = [await client.next(), await client.next()];
    assert.deepEqual(pushed.map((r) => r.type_url), [CDS, RDS]);
    assert.notEqual(pushed[0].version_info, cds1.version_info);
    assert.notEqual(pushed[1].version_info, rds1.version_info);
    assert.deepEqual(names(pushed[0]), ['api.default', 'db.default', 'inbound|local', 'web.default']);
    const [cds2, rds2] = pushed;

    // NACK of the new RDS: recorded with the proxy version that carried it
    client.send({ type_url: RDS, version_info: rds1.version_info, response_nonce: rds2.nonce, resource_names: ['outbound'], error_detail: { code: 3, message: 'unknown extension trellis.dev.RateLimit' } });
    await waitFor(() => registry.get(web.id)?.lastNack !== null, 'the NACK');
    const v2 = combinedVersion([[CDS, cds2.version_info], [EDS, eds1.version_info], [LDS, lds1.version_info], [RDS, rds2.version_info]]);
    assert.equal(registry.get(web.id)?.sentVersion, v2);
    assert.deepEqual(registry.get(web.id)?.lastNack, { version: v2, error: 'unknown extension trellis.dev.RateLimit', typeUrl: RDS });

    // a changed EDS subscription is answered with every name it holds
    client.send({ type_url: EDS, version_info: eds1.version_info, response_nonce: eds1.nonce, resource_names: ['web.default', 'db.default'] });
    const eds2 = await client.next();
    assert.equal(eds2.type_url, EDS);
    assert.notEqual(eds2.version_info, eds1.version_info, 'other names, other content, other version');
    assert.deepEqual(names(eds2), ['db.default', 'web.default']);

    // a request quoting an old nonce is ignored: the next answer is for the current-nonce request
    client.send({ type_url: EDS, version_info: eds1.version_info, response_nonce: eds1.nonce, resource_names: ['api.default'] });
    client.send({ type_url: EDS, version_info: eds2.version_info, response_nonce: eds2.nonce, resource_names: ['web.default', 'db.default', 'api.default'] });
    const eds2b = await client.next();
    assert.equal(eds2b.type_url, EDS);
    assert.deepEqual(names(eds2b), ['api.default', 'db.default', 'web.default']);

    // ACK everything but RDS: the proxy holds the new clusters and endpoints with the old routes
    client.send({ type_url: CDS, version_info: cds2.version_info, response_nonce: cds2.nonce });
    client.send({ type_url: EDS, version_info: eds2b.version_info, response_nonce: eds2b.nonce, resource_names: ['web.default', 'db.default', 'api.default'] });
    held.set(CDS, cds2.version_info).set(EDS, eds2b.version_info);
    await waitFor(() => registry.get(web.id)?.ackedVersion === combinedVersion([...held]), 'partial ACK');
    assert.notEqual(registry.get(web.id)?.ackedVersion, registry.get(web.id)?.sentVersion);

    // the next version, once ACKed for RDS, clears the NACK; the EDS name that went away is not answered
    current = current.filter((r) => r.metadata.name !== 'db');
    ads.scheduleRefresh();
    const v3 = [await client.next(), await client.next()];
    assert.deepEqual(v3.map((r) => r.type_url), [CDS, RDS]);
    assert.deepEqual(v3.map((r) => r.version_info), [cds1.version_info, rds1.version_info], 'the same content as before has the same versions as before');
    for (const r of v3) {
      client.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: r.type_url === RDS ? ['outbound'] : [] });
      held.set(r.type_url, r.version_info);
    }
    await waitFor(() => registry.get(web.id)?.ackedVersion === combinedVersion([...held]), 'the new content ACKed');
    assert.equal(registry.get(web.id)?.ackedVersion, registry.get(web.id)?.sentVersion);
    assert.equal(registry.get(web.id)?.lastNack, null);

    // an endpoint change pushes that one ClusterLoadAssignment, and nothing else
    const peer = connect();
    peer.send({ node: encodeNode(nodeInfo({ service: 'api', address: '127.0.1.21' })), type_url: CDS, resource_names: [] });
    await peer.next();
    const eds4 = await client.next();
    assert.equal(eds4.type_url, EDS);
    assert.deepEqual(names(eds4), ['api.default']);
    const cla = unpackAny(eds4.resources[0]) as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
    assert.deepEqual(cla.endpoints.flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address)), ['127.0.1.21']);
    // its version is that of every endpoint set the proxy now holds, not of the one sent
    const eds4Names = ['api.default', 'web.default'];
    assert.notEqual(eds4.version_info, resourcesVersion([[eds4Names[0], digestOf(eds4.resources[0].value)]]));
    client.send({ type_url: EDS, version_info: eds4.version_info, response_nonce: eds4.nonce, resource_names: ['web.default', 'db.default', 'api.default'] });
    held.set(EDS, eds4.version_info);
    await waitFor(() => registry.get(web.id)?.ackedVersion === combinedVersion([...held]), 'the endpoints ACKed');

    // nothing changed: no push
    ads.refreshNow();
    client.send({ type_url: typeUrls.secret, resource_names: [] });
    const secrets = await client.next();
    assert.equal(secrets.type_url, typeUrls.secret);
    assert.equal(secrets.version_info, emptyVersion);
    assert.deepEqual(secrets.resources, []);
    const stats = ads.stats();
    assert.ok(stats.responses >= 10 && stats.bytes > 0 && stats.passes >= 3, JSON.stringify(stats));
  });

  it('coalesces a burst of changes into one push (debounce)', async () => {
    const node = nodeInfo({ service: 'shop', address: '127.0.1.40' });
    const before = ads.stats().passes;
    const client = connect();
    client.send({ node: encodeNode(node), type_url: CDS, resource_names: [] });
    let first = await client.next();
    client.send({ type_url: CDS, version_info: first.version_info, response_nonce: first.nonce });
    // its registration makes a pass of its own (which may push it its own service's cluster)
    await waitFor(() => ads.stats().passes > before, 'the pass after its registration');
    const own = await client.next(300).catch(() => null);
    if (own) {
      first = own;
      client.send({ type_url: CDS, version_info: own.version_info, response_nonce: own.nonce });
    }
    const passes = ads.stats().passes;
    for (const name of ['burst-a', 'burst-b', 'burst-c', 'burst-d']) {
      current = [...current, ...service(name)];
      ads.scheduleRefresh();
    }
    const pushed = await client.next();
    assert.deepEqual(names(pushed).filter((n) => n.startsWith('burst-')), ['burst-a.default', 'burst-b.default', 'burst-c.default', 'burst-d.default']);
    assert.notEqual(pushed.version_info, first.version_info);
    await assert.rejects(client.next(300), /no xDS response/, 'no second push');
    assert.equal(ads.stats().passes, passes + 1);
  });

  /** Every response up to the answer of a fresh Secret subscription (ACKed): what the server had written before it. */
  async function drain(client: AdsTestClient): Promise<DiscoveryResponse[]> {
    const fence = [`fence-${Math.random()}`];
    client.send({ type_url: typeUrls.secret, resource_names: fence });
    const out: DiscoveryResponse[] = [];
    for (;;) {
      const r = await client.next();
      if (r.type_url === typeUrls.secret) {
        client.send({ type_url: typeUrls.secret, resource_names: fence, version_info: r.version_info, response_nonce: r.nonce });
        return out;
      }
      out.push(r);
    }
  }

  it('a proxy arriving with the versions it holds is sent only the types whose content differs', async () => {
    // a client without an app: what it is sent does not change when its own stream ends
    const node = nodeInfo({ service: 'shop', address: '127.0.1.25', app: undefined });
    const first = connect();
    first.send({ node: encodeNode(node), type_url: CDS });
    const cds = await first.next();
    first.send({ type_url: CDS, version_info: cds.version_info, response_nonce: cds.nonce });
    first.send({ type_url: EDS, resource_names: ['api.default'] });
    const eds = await first.next();
    first.close();
    await waitFor(() => registry.get(node.id)?.state === 'draining', 'draining');
    ads.refreshNow();
    const before = ads.stats();

    // as from another replica on the same state: nothing differs, nothing is sent
    const second = connect();
    second.send({ node: encodeNode(node), type_url: CDS, version_info: cds.version_info });
    second.send({ type_url: EDS, version_info: eds.version_info, resource_names: ['api.default'] });
    assert.deepEqual(await drain(second), []);
    assert.equal(ads.stats().held - before.held, 2);
    await waitFor(() => registry.get(node.id)?.connected === true && registry.get(node.id)?.ackedVersion === combinedVersion([[CDS, cds.version_info], [EDS, eds.version_info]]), 'the held versions count as ACKed');

    // a version it does not hold: that type only, whole
    second.close();
    await waitFor(() => registry.get(node.id)?.state === 'draining', 'draining');
    ads.refreshNow();
    const third = connect();
    third.send({ node: encodeNode(node), type_url: CDS, version_info: 'stale0000000000' });
    third.send({ type_url: EDS, version_info: eds.version_info, resource_names: ['api.default'] });
    const answered = await drain(third);
    assert.deepEqual(answered.map((r) => [r.type_url, r.version_info]), [[CDS, cds.version_info]]);
  });

  it('refuses a stream whose node is invalid with INVALID_ARGUMENT naming the problem', async () => {
    const client = connect();
    client.send({ node: { id: 'x', cluster: 'web' }, type_url: CDS });
    const err = await withTimeout(client.ended, 5000, 'the stream to end');
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /node\.metadata\.address is required/);
  });

  it('marks a proxy draining when its stream ends, and gives the same content the same version when it returns', async () => {
    const node = nodeInfo({ service: 'cart', address: '127.0.1.30' });
    const first = connect();
    first.send({ node: encodeNode(node), type_url: CDS });
    const r1 = await first.next();
    first.close();
    await waitFor(() => registry.get(node.id)?.state === 'draining', 'draining');

    const second = connect();
    second.send({ node: encodeNode(node), type_url: CDS });
    const r2 = await second.next();
    assert.equal(registry.get(node.id)?.state, 'connected');
    assert.equal(r2.version_info, r1.version_info);
    clock.advance(60_000);
    assert.ok(registry.get(node.id), 'a reconnected proxy is not dropped by the old grace timer');
  });
});
