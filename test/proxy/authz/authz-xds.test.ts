// mTLS and AuthorizationPolicy over xDS: what the compiler sends (Envoy TLS chains, transport
// socket matches, endpoint metadata, RBAC filters) decodes through real protobuf bytes into the
// typed config, and the decoders refuse shapes they do not implement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot, type MeshState } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ClusterConfig, ClusterLoadAssignment, ListenerConfig } from '../../../src/proxy/config/proxy-config.js';
import { assignmentKind, clusterKind, decodeResourceBytes, listenerKind, type ResourceKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { Authorizer } from '../../../src/proxy/authz/authz-matcher.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';
import { packMessage } from '../../../src/control/compiler/pack.js';
import { messageType } from '../../../src/xds/descriptor.js';
import { instance } from '../../control/helpers.js';

const node: NodeInfo = {
  id: 'api-1', service: 'api', namespace: 'default', address: '127.0.33.2', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.33.2', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

function decode<T>(kind: ResourceKind<T>, state: MeshState, typeUrl: string, name: string, n: NodeInfo = node): T {
  const bytes = encodeSnapshot(compileSnapshot(state, n)).resources.get(typeUrl)!.get(name)!.value;
  const r = decodeResourceBytes(kind, bytes);
  if (!r.ok) assert.fail(`expected ok, got: ${r.error}`);
  return r.value;
}

const services = parse(`apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
`);

test('inbound listener: permissive by default (TLS and plaintext chains), strict from MeshConfig', () => {
  const permissive = decode<ListenerConfig>(listenerKind, { resources: services, instances: [] }, typeUrls.listener, 'inbound');
  assert.deepEqual(permissive.tls, { mode: 'permissive', alpn: ['h2', 'http/1.1'] });
  assert.equal(permissive.authz, undefined);
  const strict = decode<ListenerConfig>(listenerKind, { resources: [...services, ...parse('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { mtls: { mode: strict } }\n')], instances: [] }, typeUrls.listener, 'inbound');
  assert.deepEqual(strict.tls, { mode: 'strict', alpn: ['h2', 'http/1.1'] });
  const outbound = decode<ListenerConfig>(listenerKind, { resources: services, instances: [] }, typeUrls.listener, 'outbound');
  assert.equal(outbound.tls, undefined);
});

test('clusters carry the peers\' SPIFFE ids; endpoints of certified proxies are marked for mTLS', () => {
  const a = instance({ service: 'api', address: '127.0.33.3', proxyId: 'api-a' } as never);
  const b = instance({ service: 'api', address: '127.0.33.4', proxyId: 'api-b' } as never);
  const state: MeshState = { resources: services, instances: [a, b], certified: new Set(['api-a']) };
  const cluster = decode<ClusterConfig>(clusterKind, state, typeUrls.cluster, 'api.default', { ...node, service: 'web', id: 'web-1' });
  assert.deepEqual(cluster.upstreamTls, { subjectAltNames: ['spiffe://cluster.local/ns/default/svc/api'], alpn: ['h2', 'http/1.1'], sni: 'api.default' });
  const cla = decode<ClusterLoadAssignment>(assignmentKind, state, typeUrls.clusterLoadAssignment, 'api.default', { ...node, service: 'web', id: 'web-1' });
  const byAddr = new Map(cla.endpoints.map((e) => [e.address, e.tls === true]));
  assert.deepEqual([...byAddr], [['127.0.33.3', true], ['127.0.33.4', false]]);
});

const policies = parse(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { defaultAuthorization: deny, trustDomain: example.org }
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: web-reads }
spec:
  targetRef: { kind: Service, name: api }
  action: ALLOW
  rules:
    - from: [{ services: [web] }]
      to: [{ paths: ["/api/*", "/health"], methods: [GET, HEAD] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin }
spec:
  action: DENY
  rules: [{ to: [{ paths: ["/admin/*"] }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: other-target }
spec:
  targetRef: { kind: Service, name: web }
  action: ALLOW
  rules: [{}]
`);

test('AuthorizationPolicy → RBAC filters → the typed config → a matcher that decides as the policies say', () => {
  const l = decode<ListenerConfig>(listenerKind, { resources: [...services, ...policies], instances: [] }, typeUrls.listener, 'inbound');
  assert.ok(l.authz);
  assert.deepEqual(l.authz.deny.map((p) => p.name), ['default/no-admin#0']);
  assert.deepEqual(l.authz.allow?.map((p) => p.name), ['default/web-reads#0'], 'the policy on web does not apply to api');
  const authz = new Authorizer(l.authz);
  const web = 'spiffe://example.org/ns/default/svc/web';
  assert.equal(authz.check(web, 'GET', '/api/items?x=1'), null);
  assert.equal(authz.check(web, 'GET', '/health'), null);
  assert.equal(authz.check(web, 'POST', '/api/items'), 'not-allowed');
  assert.equal(authz.check(web, 'GET', '/admin/x'), 'policy:default/no-admin');
  assert.equal(authz.check('spiffe://example.org/ns/default/svc/db', 'GET', '/api/items'), 'not-allowed');
  assert.equal(authz.check(null, 'GET', '/api/items'), 'not-allowed');
});

test('no policy and the default allow: no RBAC filter at all', () => {
  const l = decode<ListenerConfig>(listenerKind, { resources: services, instances: [] }, typeUrls.listener, 'inbound');
  assert.equal(l.authz, undefined);
});

function rbacListener(rbac: Record<string, unknown>, direction = 'INBOUND'): Uint8Array {
  const hcm = packMessage(typeUrls.httpConnectionManager, {
    stat_prefix: 'inbound', route_config: { name: 'inbound', virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'inbound|local' } }] }] },
    http_filters: [
      { name: 'envoy.filters.http.rbac', typed_config: packMessage('type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rbac) },
      { name: 'envoy.filters.http.router', typed_config: packMessage(typeUrls.router, {}) },
    ],
  });
  const type = messageType('envoy.config.listener.v3.Listener');
  return type.encode(type.fromObject({
    name: 'inbound', address: { socket_address: { address: '127.0.33.2', port_value: 15006 } }, traffic_direction: direction,
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  })).finish();
}

test('RBAC the sidecar does not implement is refused with a message that names it', () => {
  const refusedWith = (bytes: Uint8Array, re: RegExp) => {
    const r = decodeResourceBytes(listenerKind, bytes);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, re);
  };
  refusedWith(rbacListener({ rules: { action: 'LOG', policies: {} } }), /action LOG is not supported/);
  refusedWith(rbacListener({ rules: { policies: { p: { permissions: [{ destination_port: 80 }], principals: [{ any: true }] } } } }), /destination_port is not supported/);
  refusedWith(rbacListener({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ source_ip: { address_prefix: '10.0.0.0' } }] } } } }), /source_ip is not supported/);
  refusedWith(rbacListener({ rules: { policies: {} } }, 'OUTBOUND'), /only supported on the inbound listener/);
  const ok = decodeResourceBytes(listenerKind, rbacListener({ rules: { policies: {} } }));
  assert.ok(ok.ok);
  if (ok.ok) assert.deepEqual(ok.value.authz, { deny: [], allow: [] }, 'an ALLOW filter without policies denies everything');
});
