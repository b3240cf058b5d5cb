// STRICT_DNS endpoints: a host name stands for every address it resolves to; the names are
// resolved again every refresh (on a manual clock here), a change replaces the cluster's
// endpoints, a failed lookup keeps the last good set, and lookups and failures are counted.
// The lookups are the test's own; the system resolver is exercised with `localhost` at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricRegistry } from '../../../src/proxy/telemetry/metric-registry.js';
import { ClusterManager } from '../../../src/proxy/cluster/cluster-manager.js';
import { pickFamily, StrictDnsResolver, systemLookup, type HostLookup } from '../../../src/proxy/cluster/strict-dns-resolver.js';
import type { DnsDiscovery, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { ManualClock } from './resilience/manual-clock.js';
import { cluster, endpoint } from '../proxy-test-support.js';

/** A resolver the test answers: each name maps to its addresses, or to an Error it throws. */
function fakeDns(answers: Record<string, string[] | Error>): HostLookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (name: string): Promise<string[]> => {
    asked.push(name);
    const a = answers[name];
    if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    if (a instanceof Error) throw a;
    return a;
  };
  return Object.assign(lookup, { asked });
}

const discovery = (targets: DnsDiscovery['targets'], refreshMs = 30_000): DnsDiscovery => ({ targets, refreshMs, family: 'v4-preferred' });

test('a host name stands for each of its addresses, at the target port; IP targets stay as they are', async () => {
  const dns = fakeDns({ 'partner.test': ['10.0.0.1', '10.0.0.2'] });
  const r = new StrictDnsResolver({ lookup: dns, clock: new ManualClock(), onChange: () => undefined });
  try {
    r.configure(discovery([endpoint('partner.test', 8443), endpoint('10.0.0.9', 8443)]));
    await r.settled();
    assert.deepEqual(r.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.1:8443', '10.0.0.2:8443', '10.0.0.9:8443']);
    assert.equal(r.endpoints[0].labels.hostname, 'partner.test');
    assert.equal(r.endpoints[2].labels.hostname, undefined);
  } finally {
    r.close();
  }
});

test('re-resolved every refresh: a change replaces the endpoints, a failure or an empty answer keeps the last good set', async () => {
  const answers: Record<string, string[] | Error> = { 'partner.test': ['10.0.0.1'] };
  const dns = fakeDns(answers);
  const clock = new ManualClock();
  const changes: string[][] = [];
  const lookups = { value: 0, inc() { this.value++; } };
  const failures = { value: 0, inc() { this.value++; } };
  const r = new StrictDnsResolver({
    lookup: dns, clock, counters: { lookups, failures },
    onChange: (eps) => changes.push(eps.map((e) => e.address)),
  });
  try {
    r.configure(discovery([endpoint('partner.test', 443)]));
    await r.settled();
    assert.deepEqual(changes, [['10.0.0.1']]);

    answers['partner.test'] = ['10.0.0.1', '10.0.0.3'];
    clock.advance(29_999);
    await r.settled();
    assert.equal(dns.asked.length, 1, 'not before the refresh interval');
    clock.advance(1);
    await r.settled();
    assert.deepEqual(changes.at(-1), ['10.0.0.1', '10.0.0.3']);

    answers['partner.test'] = new Error('SERVFAIL');
    clock.advance(30_000);
    await r.settled();
    answers['partner.test'] = [];
    clock.advance(30_000);
    await r.settled();
    assert.equal(changes.length, 2, 'neither a failure nor an empty answer changed the endpoints');
    assert.deepEqual(r.endpoints.map((e) => e.address), ['10.0.0.1', '10.0.0.3']);

    answers['partner.test'] = ['10.0.0.4'];
    clock.advance(30_000);
    await r.settled();
    assert.deepEqual(changes.at(-1), ['10.0.0.4']);
    assert.equal(lookups.value, 5);
    assert.equal(failures.value, 2);
  } finally {
    r.close();
  }
  assert.equal(clock.pendingTimers, 0, 'close stops the refreshes');
});

test('lookup families: v4-preferred falls back to v6, auto prefers v6, all keeps both', () => {
  const both = ['::1', '127.0.0.1'];
  assert.deepEqual(pickFamily(both, 'v4-preferred'), ['127.0.0.1']);
  assert.deepEqual(pickFamily(['::1'], 'v4-preferred'), ['::1']);
  assert.deepEqual(pickFamily(both, 'auto'), ['::1']);
  assert.deepEqual(pickFamily(both, 'v4-only'), ['127.0.0.1']);
  assert.deepEqual(pickFamily(both, 'v6-only'), ['::1']);
  assert.deepEqual(pickFamily(both, 'all'), ['127.0.0.1', '::1']);
});

test('the cluster manager keeps a STRICT_DNS cluster\'s hosts in step with its names, and counts lookups in /metrics', async () => {
  const answers: Record<string, string[] | Error> = { 'partner.test': ['10.0.0.1'] };
  const clock = new ManualClock();
  const registry = new MetricRegistry();
  const manager = new ClusterManager({ registry, dnsLookup: fakeDns(answers), dnsClock: clock });
  const config: ProxyConfig = {
    version: '1', listeners: [], routes: new Map(), endpoints: new Map(),
    clusters: new Map([['partner.default', cluster('partner.default', { dns: discovery([endpoint('partner.test', 443)]) })]]),
  };
  try {
    manager.update(config);
    const hosts = () => manager.get('partner.default')!.hosts.map((h) => h.key);
    assert.deepEqual(hosts(), [], 'nothing until the name resolved');
    await manager.dnsResolver('partner.default')!.settled();
    assert.deepEqual(hosts(), ['10.0.0.1:443']);
    const before = manager.get('partner.default')!.hosts[0];

    answers['partner.test'] = ['10.0.0.1', '10.0.0.2'];
    clock.advance(30_000);
    await manager.dnsResolver('partner.default')!.settled();
    assert.deepEqual(hosts(), ['10.0.0.1:443', '10.0.0.2:443']);
    assert.equal(manager.get('partner.default')!.hosts[0], before, 'a host that stays keeps its pool and state');

    // a config push with the same cluster keeps the resolved set (no empty window)
    manager.update({ ...config, version: '2' });
    assert.deepEqual(hosts(), ['10.0.0.1:443', '10.0.0.2:443']);

    answers['partner.test'] = new Error('timeout');
    clock.advance(30_000);
    await manager.dnsResolver('partner.default')!.settled();
    assert.deepEqual(hosts(), ['10.0.0.1:443', '10.0.0.2:443']);
    const text = registry.metrics();
    assert.match(text, /trellis_dns_lookups_total\{cluster="partner.default"\} 3/);
    assert.match(text, /trellis_dns_lookup_failures_total\{cluster="partner.default"\} 1/);

    manager.update({ ...config, clusters: new Map() });
    assert.equal(manager.dnsResolver('partner.default'), undefined, 'a cluster that left stops resolving');
    assert.equal(clock.pendingTimers, 0);
  } finally {
    manager.destroy();
  }
});

test('the system resolver answers localhost (the name the e2e test uses) with a loopback address', async () => {
  const addresses = await systemLookup('localhost');
  assert.ok(pickFamily(addresses, 'v4-preferred').every((a) => a === '127.0.0.1' || a === '::1'), addresses.join(','));
  await assert.rejects(systemLookup('no-such-host.invalid'));
});
