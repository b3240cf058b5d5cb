// Protocol detection over xDS (docs/xds.md "Listeners", docs/protocols.md "Ports that declare no
// protocol"): what the compiler sends for a Service port without a protocol decodes through real
// protobuf bytes into a detecting listener (timeout from the MeshConfig, HTTP chain on the
// outbound routes, TCP chain tunnelling to the target port); which node binds the pod address and
// which only takes intercepted connections; the inbound CONNECT route of a member; malformed
// shapes and bad MeshConfig timeouts refused naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { formatResourceError, parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ListenerConfig } from '../../../src/proxy/config/proxy-config.js';
import { decodeResourceBytes, listenerKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { decodeListener } from '../../../src/proxy/xds/listener-decoder.js';
import { rdsNamesOf } from '../../../src/proxy/xds/ads-config-assembler.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { securityTypeUrls } from '../../../src/xds/security-extensions.js';
import type { NodeInfo } from '../../../src/xds/node.js';
import { packResource } from './xds-fixtures.js';

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatResourceError).join('\n'));
  return r.resources;
}

const node = (service: string, address: string, appPort = 8000, intercept = false): NodeInfo => ({
  id: `${service}-1`, service, namespace: 'default', address, inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address, port: appPort }, labels: {}, zone: '', region: '', version: 'test', ...(intercept ? { intercept } : {}),
});

const mesh = (timeout?: string) => parse(`${timeout ? `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { protocolDetectionTimeout: ${timeout} }
---
` : ''}apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: cache, creationTimestamp: "2026-01-01T00:00:00Z" }
spec: { ports: [{ port: 6380, targetPort: 6379 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: cache-b, creationTimestamp: "2026-01-02T00:00:00Z" }
spec: { ports: [{ port: 6380, protocol: auto }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec: { ports: [{ port: 5432, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db-auto, creationTimestamp: "2026-01-01T00:00:00Z" }
spec: { ports: [{ port: 5432 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 8000, protocol: http }] }
`);

function listenersOf(resources: Resource[], n: NodeInfo): Map<string, ListenerConfig> {
  const snap = encodeSnapshot(compileSnapshot({ resources, instances: [] }, n));
  const out = new Map<string, ListenerConfig>();
  for (const [name, any] of snap.resources.get(typeUrls.listener) ?? []) {
    const r = decodeResourceBytes(listenerKind, any.value);
    if (!r.ok) throw new Error(`${name}: ${r.error}`);
    out.set(name, r.value);
  }
  return out;
}

test('a port without a protocol compiles into a detecting listener that decodes back, with the MeshConfig timeout', () => {
  const web = listenersOf(mesh('300ms'), node('web', '127.0.87.20'));
  assert.deepEqual(web.get('auto|cache.default|6380'), {
    name: 'auto|cache.default|6380', address: '127.0.87.20', port: 6380, direction: 'outbound', routeConfigName: 'outbound',
    tcpProxy: { cluster: 'cache.default', idleTimeoutMs: 3_600_000, maxConnectAttempts: 3, tunnelHostname: 'cache.default:6379' },
    detect: { timeoutMs: 300, http1: true, h2c: true },
  });
  // the HTTP chain takes its routes from the outbound table, which the node subscribes to anyway
  assert.deepEqual(rdsNamesOf(web.values()), ['outbound']);
  // without a MeshConfig: Istio's 10 s
  assert.equal(listenersOf(mesh(), node('web', '127.0.87.20')).get('auto|cache.default|6380')?.detect?.timeoutMs, 10_000);
  // http and tcp ports are not detected; a sidecar that does not intercept gets only the listeners it binds
  assert.deepEqual([...web.keys()].filter((n) => n.startsWith('auto|')).sort(), ['auto|cache.default|6380']);
  const intercepting = listenersOf(mesh('300ms'), node('web', '127.0.87.20', 8000, true));
  assert.deepEqual([...intercepting.keys()].filter((n) => n.startsWith('auto|')).sort(), ['auto|cache-b.default|6380', 'auto|cache.default|6380', 'auto|db-auto.default|5432']);
});

test('the pod address is bound by the oldest auto service of a port number, never over a tcp port or the node\'s own ports', () => {
  const web = listenersOf(mesh(), node('web', '127.0.87.20', 8000, true));
  assert.equal(web.get('auto|cache.default|6380')?.bindToPort, undefined, 'the older service binds 6380');
  assert.equal(web.get('auto|cache-b.default|6380')?.bindToPort, false, 'the newer one takes intercepted connections only');
  assert.equal(web.get('auto|db-auto.default|5432')?.bindToPort, false, 'the tcp port keeps 5432, although db-auto is older');
  assert.equal(web.has('tcp|5432'), true);
  // a member's own port (its app holds it), and another node whose app listens on the port
  const member = listenersOf(mesh(), node('cache', '127.0.87.21', 8000, true));
  assert.equal(member.get('auto|cache.default|6380')?.bindToPort, false);
  const clash = listenersOf(mesh(), node('web', '127.0.87.22', 6380, true));
  assert.equal(clash.get('auto|cache.default|6380')?.bindToPort, false);
  assert.equal(listenersOf(mesh(), node('web', '127.0.87.22', 6380)).has('auto|cache.default|6380'), false, 'nothing to bind and no interception: no listener');
});

test('a member\'s inbound listener terminates CONNECTs to its auto target ports', () => {
  const member = listenersOf(mesh(), node('cache', '127.0.87.21', 6379));
  assert.deepEqual(member.get('inbound')?.inlineRoutes?.connect, [{ name: 'tcp|6379', port: 6379, cluster: 'inbound|tcp|6379' }]);
});

test('MeshConfig protocolDetectionTimeout is a duration above 0 and at most 1h, errors name the field', () => {
  const doc = (v: string) => `apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { protocolDetectionTimeout: ${v} }\n`;
  for (const [v, re] of [
    ['0s', /spec\.protocolDetectionTimeout: must be more than 0 and at most 1h/],
    ['2h', /spec\.protocolDetectionTimeout: must be more than 0 and at most 1h/],
    ['ten', /spec\.protocolDetectionTimeout: must be a duration such as 500ms, 10s or 1m/],
    ['"10"', /spec\.protocolDetectionTimeout: must be a duration/],
  ] as const) {
    const r = parseResources(doc(v), 'mesh.yaml');
    assert.equal(r.ok, false, v);
    if (!r.ok) assert.match(r.errors.map(formatResourceError).join('\n'), re);
  }
  const ok = parseResources(doc('250ms'), 'mesh.yaml');
  assert.ok(ok.ok && ok.resources[0].kind === 'MeshConfig' && ok.resources[0].spec.protocolDetectionTimeout === '250ms');
  const dflt = parseResources('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\n', 'mesh.yaml');
  assert.ok(dflt.ok && dflt.resources[0].kind === 'MeshConfig' && dflt.resources[0].spec.protocolDetectionTimeout === '10s');
  // auto is a Service protocol, not an ExternalService one (those are routed by host name)
  const ext = parseResources('apiVersion: trellis.dev/v1alpha1\nkind: ExternalService\nmetadata: { name: x }\nspec: { hosts: [x.example], addresses: [10.0.0.1], ports: [{ port: 80, protocol: auto }] }\n', 'ext.yaml');
  assert.equal(ext.ok, false);
  if (!ext.ok) assert.match(ext.errors.map(formatResourceError).join('\n'), /spec\.ports\[0\]\.protocol/);
});

test('malformed detecting listeners are refused naming the field', () => {
  const hcm = { name: 'envoy.filters.network.http_connection_manager', typed_config: packResource(typeUrls.httpConnectionManager, {
    stat_prefix: 'outbound', rds: { route_config_name: 'outbound', config_source: { ads: {} } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packResource(typeUrls.router, {}) }],
  }) };
  const tcp = { name: 'envoy.filters.network.tcp_proxy', typed_config: packResource(typeUrls.tcpProxy, { stat_prefix: 's', cluster: 'a' }) };
  const inspectors = [
    { name: 'envoy.filters.listener.tls_inspector', typed_config: packResource(securityTypeUrls.tlsInspector, {}) },
    { name: 'envoy.filters.listener.http_inspector', typed_config: packResource(typeUrls.httpInspector, {}) },
  ];
  const listener = (over: Record<string, unknown> = {}) => ({
    name: 'auto|a|1', address: { socket_address: { address: '127.0.87.9', port_value: 1 } }, traffic_direction: 'OUTBOUND',
    listener_filters: inspectors, listener_filters_timeout: { seconds: 2 }, continue_on_listener_filters_timeout: true,
    filter_chains: [{ filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] }, filters: [hcm] }, { filters: [tcp] }],
    ...over,
  });
  const refused = (l: Record<string, unknown>) => {
    const r = decodeListener(l);
    assert.equal(r.ok, false, JSON.stringify(r));
    return (r as { error: string }).error;
  };
  const ok = decodeListener(listener({ bind_to_port: { value: false } }));
  assert.ok(ok.ok);
  assert.deepEqual(ok.ok && [ok.value.detect, ok.value.bindToPort, ok.value.routeConfigName], [{ timeoutMs: 2000, http1: true, h2c: true }, false, 'outbound']);
  assert.match(refused(listener({ traffic_direction: 'INBOUND' })), /must be OUTBOUND/);
  assert.match(refused(listener({ continue_on_listener_filters_timeout: false })), /continue_on_listener_filters_timeout must be true/);
  assert.match(refused(listener({ listener_filters_timeout: { seconds: 0 } })), /listener_filters_timeout must be more than 0/);
  assert.match(refused(listener({ listener_filters: [...inspectors, { name: 'envoy.filters.listener.original_dst' }] })), /listener_filters\[2\]/);
  assert.match(refused(listener({ filter_chains: [{ filter_chain_match: { application_protocols: ['h2'] }, filters: [hcm] }, { filters: [tcp] }] })), /application_protocols must be some of/);
  assert.match(refused(listener({ filter_chains: [{ filter_chain_match: { application_protocols: ['h2c'], server_names: ['x'] }, filters: [hcm] }, { filters: [tcp] }] })), /filter_chain_match\.server_names is not supported/);
  assert.match(refused(listener({ filter_chains: [{ filter_chain_match: { application_protocols: ['h2c'] }, filters: [hcm] }] })), /exactly two filter chains/);
  assert.match(refused(listener({ filter_chains: [{ filter_chain_match: { application_protocols: ['h2c'] }, filters: [hcm] }, { filters: [hcm] }] })), /filter_chains\[1\] must hold exactly one filter, tcp_proxy/);
  // bind_to_port false means "interception only": only a detecting listener may say it
  assert.match(refused({ ...listener(), listener_filters: [], filter_chains: [{ filters: [tcp] }], bind_to_port: { value: false } }), /bind_to_port false is only supported/);
});
