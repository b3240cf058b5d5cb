// Each decoder, through real protobuf bytes: the shapes docs/xds.md promises, and each refusal.
import { defaultCircuitBreakers, defaultIdleTimeoutMs, defaultRetryBudget } from '../../../src/proxy/config/cluster-defaults.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { assignmentKind, clusterKind, decodeResourceBytes, listenerKind, routeKind, type ResourceKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import type { DecodeResult } from '../../../src/proxy/xds/xds-decode-result.js';
import { assignment, edsCluster, encodeResource, inboundListener, outboundListener, outboundRoutes, packResource, routerFilter, staticCluster, type Obj } from './xds-fixtures.js';

function decode<T>(kind: ResourceKind<T>, obj: Obj): DecodeResult<T> {
  return decodeResourceBytes(kind, encodeResource(kind.typeUrl, obj));
}

function ok<T>(r: DecodeResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got: ${r.error}`);
  return r.value;
}

function refusedWith<T>(r: DecodeResult<T>, ...parts: (string | RegExp)[]): void {
  if (r.ok) assert.fail(`expected a refusal, got ${JSON.stringify(r.value)}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(r.error.includes(p), `"${r.error}" should mention ${p}`);
    else assert.match(r.error, p);
  }
}

const foreignUrl = 'type.googleapis.com/trellis.dev.PeakEwma';
const foreignAny = { type_url: foreignUrl, value: new Uint8Array() };

// ---- listeners ----

test('listener: outbound with RDS over ADS', () => {
  const l = ok(decode(listenerKind, outboundListener('127.0.20.9', 15001)));
  assert.deepEqual(l, { name: 'outbound', address: '127.0.20.9', port: 15001, direction: 'outbound', routeConfigName: 'outbound' });
});

test('listener: inbound with an inline route config', () => {
  const l = ok(decode(listenerKind, inboundListener('127.0.20.9', 15006)));
  assert.equal(l.direction, 'inbound');
  assert.equal(l.routeConfigName, 'inbound');
  assert.deepEqual(l.inlineRoutes, {
    name: 'inbound',
    virtualHosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: '', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: 'inbound|local', weight: 1 }], timeoutMs: 0 }] }],
  });
});

test('listener: refused without address or port', () => {
  const noAddr = outboundListener();
  delete noAddr.address;
  refusedWith(decode(listenerKind, noAddr), 'listener "outbound"', 'address');
  const noPort = outboundListener();
  noPort.address = { socket_address: { address: '127.0.20.9' } };
  refusedWith(decode(listenerKind, noPort), 'listener "outbound"', 'port_value');
});

test('listener: refused without a traffic direction', () => {
  const l = outboundListener();
  delete l.traffic_direction;
  refusedWith(decode(listenerKind, l), 'traffic_direction');
});

test('listener: an unknown network filter is refused, naming its type URL', () => {
  const l = outboundListener();
  l.filter_chains[0].filters[0] = { name: 'trellis.tcp', typed_config: foreignAny };
  refusedWith(decode(listenerKind, l), 'listener "outbound"', foreignUrl, 'unknown typed extension');
});

test('listener: an unknown HTTP filter is refused', () => {
  const l = outboundListener('127.0.20.9', 15001, { http_filters: [{ name: 'trellis.fault', typed_config: foreignAny }, routerFilter] });
  refusedWith(decode(listenerKind, l), 'listener "outbound"', foreignUrl, 'http_filters[0]');
});

test('listener: an HCM without the router is refused', () => {
  const l = outboundListener('127.0.20.9', 15001, { http_filters: [] });
  refusedWith(decode(listenerKind, l), 'router');
});

test('listener: a typed extension anywhere else (transport socket) is refused', () => {
  const l = outboundListener();
  l.filter_chains[0].transport_socket = { name: 'tls', typed_config: foreignAny };
  refusedWith(decode(listenerKind, l), foreignUrl, 'filter_chains[0].transport_socket.typed_config');
});

test('listener: an inline route config with a bad route is refused with both names', () => {
  const l = inboundListener();
  const inline = packResource(typeUrls.httpConnectionManager, {
    stat_prefix: 'inbound',
    http_filters: [routerFilter],
    route_config: { name: 'inbound', virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, route: {} }] }] },
  });
  l.filter_chains[0].filters[0].typed_config = inline;
  refusedWith(decode(listenerKind, l), 'listener "inbound"', 'route "r"', 'neither cluster nor weighted_clusters');
});

test('listener: RDS from a non-ADS config source is refused', () => {
  const l = outboundListener('127.0.20.9', 15001, { rds: { route_config_name: 'outbound', config_source: { path_config_source: { path: '/x' } } } });
  refusedWith(decode(listenerKind, l), 'config_source must be ads');
});

// ---- route configurations ----

test('routes: virtual hosts, exact and prefix matches, weighted clusters, timeouts', () => {
  const rc = outboundRoutes(['api'], {
    api: [
      { name: 'login.0', match: { path: '/login' }, route: { cluster: 'auth.default', timeout: { seconds: 1, nanos: 250_000_000 } } },
      { name: 'split.0', match: { prefix: '/v' }, route: { weighted_clusters: { clusters: [{ name: 'api-v1.default', weight: { value: 90 } }, { name: 'api-v2.default', weight: { value: 10 } }] } } },
      { name: 'zero.0', match: { prefix: '/z' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }, { name: 'b', weight: { value: 3 } }] } } },
    ],
  });
  const table = ok(decode(routeKind, rc));
  assert.equal(table.name, 'outbound');
  const vh = table.virtualHosts[0];
  assert.deepEqual(vh.domains, ['api', 'api.default', 'api.default.svc', 'api.default.svc.cluster.local']);
  assert.deepEqual(vh.routes.map((r) => [r.name, r.match, r.clusters, r.timeoutMs]), [
    ['login.0', { kind: 'exact', value: '/login' }, [{ cluster: 'auth.default', weight: 1 }], 1250],
    ['split.0', { kind: 'prefix', value: '/v' }, [{ cluster: 'api-v1.default', weight: 90 }, { cluster: 'api-v2.default', weight: 10 }], 0],
    ['zero.0', { kind: 'prefix', value: '/z' }, [{ cluster: 'a', weight: 0 }, { cluster: 'b', weight: 3 }], 0],
    ['', { kind: 'prefix', value: '/' }, [{ cluster: 'api.default', weight: 1 }], 0],
  ]);
});

test('routes: an unknown typed_per_filter_config on a route is refused, naming route config, route and type', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 'ext.0', match: { prefix: '/e' }, route: { cluster: 'api.default' }, typed_per_filter_config: { 'trellis.extension/peak': foreignAny } }] });
  refusedWith(decode(routeKind, rc), 'route configuration "outbound"', 'route "ext.0"', foreignUrl, 'trellis.extension/peak');
});

test('routes: an unknown typed_per_filter_config on a virtual host is refused', () => {
  const rc = outboundRoutes(['api']);
  rc.virtual_hosts[0].typed_per_filter_config = { 'trellis.extension/x': foreignAny };
  refusedWith(decode(routeKind, rc), 'virtual host "api.default"', foreignUrl);
});

test('routes: a route with neither cluster nor weighted_clusters is refused', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 'bad.0', match: { prefix: '/b' }, route: { timeout: { seconds: 1 } } }] });
  refusedWith(decode(routeKind, rc), 'route "bad.0"', 'neither cluster nor weighted_clusters');
});

test('routes: weighted clusters summing to 0 are refused', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 'w.0', match: { prefix: '/w' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }, { name: 'b' }] } } }] });
  refusedWith(decode(routeKind, rc), 'route "w.0"', 'sum to 0');
});

test('routes: regex matches JavaScript cannot run safely are refused', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 're.0', match: { safe_regex: { regex: '(a*)*b' } }, route: { cluster: 'api.default' } }] });
  refusedWith(decode(routeKind, rc), 'route "re.0"', 'safe_regex');
});

test('routes: header matches the data path does not implement are refused rather than ignored', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 'h.0', match: { prefix: '/', headers: [{ name: 'x-canary', present_match: true }] }, route: { cluster: 'api.default' } }] });
  refusedWith(decode(routeKind, rc), 'match.headers');
});

test('routes: direct responses are refused (only route and redirect actions)', () => {
  const rc = outboundRoutes(['api'], { api: [{ name: 'r.0', match: { prefix: '/old' }, direct_response: { status: 200 } }] });
  refusedWith(decode(routeKind, rc), 'direct_response');
});

test('routes: a virtual host without domains is refused', () => {
  const rc = outboundRoutes(['api']);
  rc.virtual_hosts[0].domains = [];
  refusedWith(decode(routeKind, rc), 'virtual host "api.default"', 'domains');
});

// ---- clusters ----

test('cluster: EDS over ADS, durations in ms', () => {
  const c = ok(decode(clusterKind, edsCluster('api.default', { connect_timeout: { seconds: 0, nanos: 750_000_000 } })));
  assert.deepEqual(c, {
    name: 'api.default', connectTimeoutMs: 750, idleTimeoutMs: defaultIdleTimeoutMs, lbPolicy: { kind: 'round-robin' },
    circuitBreakers: defaultCircuitBreakers, retryBudget: defaultRetryBudget, edsServiceName: 'api.default',
  });
});

test('cluster: STATIC with inline endpoints; absent type, lb policy and timeout take the proto defaults', () => {
  const c = ok(decode(clusterKind, staticCluster('inbound|local', '127.0.20.9', 8080)));
  assert.equal(c.edsServiceName, undefined);
  assert.deepEqual(c.staticEndpoints, [{ address: '127.0.20.9', port: 8080, weight: 1, healthy: true, zone: '', labels: {} }]);
  const bare = ok(decode(clusterKind, { name: 'bare', load_assignment: { cluster_name: 'bare', endpoints: [] } }));
  assert.equal(bare.connectTimeoutMs, 5000);
  assert.deepEqual(bare.lbPolicy, { kind: 'round-robin' });
});

test('cluster: other discovery types are refused', () => {
  refusedWith(decode(clusterKind, edsCluster('dns', { type: 'LOGICAL_DNS' })), 'cluster "dns"', 'LOGICAL_DNS');
  refusedWith(decode(clusterKind, edsCluster('dns', { type: 'STRICT_DNS' })), 'cluster "dns"', 'a STRICT_DNS cluster needs load_assignment');
  refusedWith(decode(clusterKind, { name: 'custom', cluster_type: { name: 'envoy.clusters.aggregate', typed_config: foreignAny } }), 'cluster "custom"', 'cluster_type');
});

test('cluster: lb policies the sidecar does not implement are refused', () => {
  refusedWith(decode(clusterKind, edsCluster('api.default', { lb_policy: 'RING_HASH' })), 'cluster "api.default"', 'RING_HASH');
  refusedWith(decode(clusterKind, edsCluster('api.default', { load_balancing_policy: { policies: [{ typed_extension_config: { name: 'x', typed_config: foreignAny } }] } })), 'load_balancing_policy');
});

test('cluster: an unknown typed extension (transport socket) is refused', () => {
  refusedWith(decode(clusterKind, edsCluster('api.default', { transport_socket: { name: 'tls', typed_config: foreignAny } })), 'cluster "api.default"', foreignUrl, 'transport_socket');
});

test('cluster: STRICT_DNS keeps its host-name endpoints for the sidecar to resolve, with the refresh rate and lookup family', () => {
  const c = ok(decode(clusterKind, {
    ...staticCluster('partner.default', 'partner.example.test', 8443), type: 'STRICT_DNS',
    dns_refresh_rate: { seconds: 30 }, dns_lookup_family: 'V4_PREFERRED',
  }));
  assert.equal(c.staticEndpoints, undefined);
  assert.deepEqual(c.dns, {
    targets: [{ address: 'partner.example.test', port: 8443, weight: 1, healthy: true, zone: '', labels: {} }], refreshMs: 30_000, family: 'v4-preferred',
  });
  const defaults = ok(decode(clusterKind, { ...staticCluster('p', 'p.test', 80), type: 'STRICT_DNS' }));
  assert.deepEqual({ refreshMs: defaults.dns?.refreshMs, family: defaults.dns?.family }, { refreshMs: 5000, family: 'auto' }, 'Envoy\'s defaults');
  refusedWith(decode(clusterKind, { ...staticCluster('p', 'p.test', 80), type: 'STRICT_DNS', dns_refresh_rate: { seconds: 0 } }), 'cluster "p"', 'dns_refresh_rate must be positive');
});

test('cluster: a STATIC cluster without endpoints is refused', () => {
  refusedWith(decode(clusterKind, { name: 's', type: 'STATIC' }), 'cluster "s"', 'load_assignment');
});

// ---- cluster load assignments ----

test('assignment: health, zone, weight and trellis labels', () => {
  const cla = ok(decode(assignmentKind, assignment('api.default', [
    { address: '127.0.20.21', zone: 'z1', labels: { version: 'v1', app: 'api' } },
    { address: '127.0.20.22', zone: 'z2', health: 'DRAINING' },
    { address: '127.0.20.23', zone: 'z2', health: 'UNKNOWN' },
    { address: '127.0.20.24', zone: 'z2', health: 'UNHEALTHY' },
  ])));
  assert.equal(cla.clusterName, 'api.default');
  assert.deepEqual(cla.endpoints.map((e) => [e.address, e.port, e.zone, e.healthy, e.weight]), [
    ['127.0.20.21', 15006, 'z1', true, 1],
    ['127.0.20.22', 15006, 'z2', false, 1],
    ['127.0.20.23', 15006, 'z2', true, 1],
    ['127.0.20.24', 15006, 'z2', false, 1],
  ]);
  assert.deepEqual(cla.endpoints[0].labels, { version: 'v1', app: 'api' });
});

test('assignment: an endpoint without a port is refused, naming the field', () => {
  const cla = assignment('api.default', [{ address: '127.0.20.21' }]);
  delete cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value;
  refusedWith(decode(assignmentKind, cla), 'cluster load assignment "api.default"', 'endpoints[0].lb_endpoints[0]', 'port_value');
});

test('assignment: without cluster_name it is refused', () => {
  refusedWith(decode(assignmentKind, { endpoints: [] }), 'cluster_name');
});

test('malformed bytes are a refusal, not an exception', () => {
  const r = decodeResourceBytes(clusterKind, new Uint8Array([0x0a, 0xff, 0xff, 0xff]));
  refusedWith(r, 'malformed');
});
