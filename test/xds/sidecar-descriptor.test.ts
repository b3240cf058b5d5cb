// The sidecar's xDS descriptor (scripts/gen-xds-descriptor.mjs, scripts/xds-sidecar-fields.mjs):
// trimmed to the fields its decoders read, it must still reach every google.protobuf.Any the full
// one reaches, so an unknown typed extension anywhere is NACKed as before, and fields it drops
// must change nothing the decoders return.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type * as Protobuf from 'protobufjs';
import { packagePath } from '../../src/common/package-root.js';
import { fullDescriptor, sidecarDescriptor } from '../../src/xds/descriptor.js';
import { typeUrls } from '../../src/xds/type-urls.js';
import { extensionTypeUrls } from '../../src/xds/trellis-extensions.js';
import { securityTypeUrls } from '../../src/xds/security-extensions.js';
import { clusterKind, decodeResourceBytes, listenerKind, routeKind } from '../../src/proxy/xds/ads-resource-kinds.js';
import { edsCluster, encodeResource, outboundListener, outboundRoutes } from '../proxy/xds/xds-fixtures.js';

const protobuf = createRequire(import.meta.url)('protobufjs/light') as typeof Protobuf;

function loadRoot(file: string): Protobuf.Root {
  const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(packagePath('dist', 'src', 'xds', file), 'utf8')));
  root.resolveAll();
  return root;
}

function messageTypes(ns: Protobuf.NamespaceBase, out: Protobuf.Type[] = []): Protobuf.Type[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type) out.push(child);
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) messageTypes(child as Protobuf.NamespaceBase, out);
  }
  return out;
}

/** Full names of the types from which an Any can be reached (a fixed point: types refer to each other in cycles). */
function typesReachingAny(types: Protobuf.Type[]): Set<string> {
  const reach = new Set(['.google.protobuf.Any']);
  for (let grew = true; grew;) {
    grew = false;
    for (const t of types) {
      if (reach.has(t.fullName)) continue;
      if (t.fieldsArray.some((f) => f.resolvedType !== null && reach.has(f.resolvedType.fullName))) {
        reach.add(t.fullName);
        grew = true;
      }
    }
  }
  return reach;
}

const full = loadRoot('envoy-descriptor.json');
const sidecar = loadRoot('envoy-sidecar-descriptor.json');
const foreignUrl = 'type.googleapis.com/trellis.dev.NotAnExtensionTheSidecarKnows';
const foreignAny = { type_url: foreignUrl, value: new Uint8Array() };

test('the sidecar descriptor keeps every type the sidecar decodes or unpacks from an Any', () => {
  const unpacked = [
    typeUrls.listener, typeUrls.routeConfiguration, typeUrls.cluster, typeUrls.clusterLoadAssignment,
    typeUrls.httpConnectionManager, typeUrls.router, typeUrls.tcpProxy, typeUrls.httpInspector, typeUrls.httpProtocolOptions,
    extensionTypeUrls.typedStruct, extensionTypeUrls.httpFault,
    securityTypeUrls.upstreamTlsContext, securityTypeUrls.downstreamTlsContext, securityTypeUrls.rbac, securityTypeUrls.tlsInspector,
  ];
  for (const url of unpacked) assert.ok(sidecarDescriptor.typeForUrl(url), `${url} is in the sidecar descriptor`);
  for (const name of ['envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse']) {
    assert.ok(sidecarDescriptor.messageType(name));
  }
});

test('every field that can reach an Any in the full descriptor is kept in the sidecar one', () => {
  const fullTypes = messageTypes(full);
  const reach = typesReachingAny(fullTypes);
  const byName = new Map(fullTypes.map((t) => [t.fullName, t]));
  let checked = 0;
  for (const t of messageTypes(sidecar)) {
    // types kept only as the parent of a nested type carry no fields; the decoders never see them
    if (t.fieldsArray.length === 0) continue;
    const original = byName.get(t.fullName);
    assert.ok(original, `${t.fullName} is in the full descriptor`);
    for (const f of original.fieldsArray) {
      if (f.resolvedType === null || !reach.has(f.resolvedType.fullName)) continue;
      checked++;
      const kept = t.fields[f.name];
      assert.ok(kept, `${t.fullName}.${f.name} reaches an Any and must be kept`);
      assert.equal(kept.id, f.id, `${t.fullName}.${f.name} keeps its field number`);
    }
  }
  assert.ok(checked > 100, `checked ${checked} fields`);
});

test('the sidecar descriptor is a trimmed copy: fewer types and fields, the same numbers and types for those kept', () => {
  const fullTypes = new Map(messageTypes(full).map((t) => [t.fullName, t]));
  const sidecarTypes = messageTypes(sidecar).filter((t) => t.fieldsArray.length > 0);
  const fieldCount = (ts: Iterable<Protobuf.Type>) => [...ts].reduce((n, t) => n + t.fieldsArray.length, 0);
  assert.ok(sidecarTypes.length < fullTypes.size, `${sidecarTypes.length} types < ${fullTypes.size}`);
  assert.ok(fieldCount(sidecarTypes) < fieldCount(fullTypes.values()), `${fieldCount(sidecarTypes)} fields < ${fieldCount(fullTypes.values())}`);
  for (const t of sidecarTypes) {
    for (const f of t.fieldsArray) {
      const original = fullTypes.get(t.fullName)!.fields[f.name];
      assert.ok(original, `${t.fullName}.${f.name} exists in the full descriptor`);
      assert.deepEqual([f.id, f.type, f.repeated, f.map], [original.id, original.type, original.repeated, original.map], `${t.fullName}.${f.name}`);
    }
  }
  // a field no decoder reads and that cannot reach an Any is dropped
  assert.ok(fullDescriptor.messageType('envoy.config.cluster.v3.Cluster').fields.dns_resolvers);
  assert.equal(sidecarDescriptor.messageType('envoy.config.cluster.v3.Cluster').fields.dns_resolvers, undefined);
});

test('an unknown typed extension under fields no decoder reads is still NACKed, naming where it is', () => {
  // Cluster.upstream_config and Listener.access_log[].filter are read by no decoder: only kept because they reach an Any
  const cluster = edsCluster('api.default', { upstream_config: { name: 'custom-pool', typed_config: foreignAny } });
  const c = decodeResourceBytes(clusterKind, encodeResource(typeUrls.cluster, cluster));
  assert.equal(c.ok, false);
  assert.match(c.ok ? '' : c.error, /unknown typed extension type\.googleapis\.com\/trellis\.dev\.NotAnExtensionTheSidecarKnows in upstream_config\.typed_config/);

  const listener = { ...outboundListener(), access_log: [{ name: 'log', filter: { extension_filter: { name: 'f', typed_config: foreignAny } } }] };
  const l = decodeResourceBytes(listenerKind, encodeResource(typeUrls.listener, listener));
  assert.equal(l.ok, false);
  assert.match(l.ok ? '' : l.error, /NotAnExtensionTheSidecarKnows in access_log\[0\]\.filter\.extension_filter\.typed_config/);
});

test('a field the sidecar drops changes nothing it decodes', () => {
  const plain = decodeResourceBytes(clusterKind, encodeResource(typeUrls.cluster, edsCluster('api.default')));
  const withDropped = decodeResourceBytes(clusterKind, encodeResource(typeUrls.cluster, edsCluster('api.default', {
    dns_resolvers: [{ socket_address: { address: '127.0.94.53', port_value: 53 } }],
    respect_dns_ttl: true,
    cleanup_interval: { seconds: 7 },
  })));
  assert.ok(plain.ok);
  assert.deepEqual(withDropped, plain);
});

test('a field read only in a rare config is kept: the deprecated HeaderValueOption.append still decides set versus add', () => {
  const routes = outboundRoutes(['api'], {
    api: [{
      match: { prefix: '/v1' },
      route: { cluster: 'api.default' },
      request_headers_to_add: [{ header: { key: 'x-set', value: '1' }, append: { value: false } }, { header: { key: 'x-add', value: '2' } }],
    }],
  });
  const r = decodeResourceBytes(routeKind, encodeResource(typeUrls.routeConfiguration, routes));
  if (!r.ok) assert.fail(r.error);
  const route = r.value.virtualHosts[0].routes[0];
  assert.deepEqual(route.requestHeaders, { set: [['x-set', '1']], add: [['x-add', '2']], remove: [] });
});

test('the sidecar generates decoders alone, and a type it also encodes still round-trips (DiscoveryRequest)', () => {
  const type = sidecarDescriptor.messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const request = { version_info: 'v1', resource_names: ['a', 'b'], type_url: typeUrls.cluster, response_nonce: 'n1', node: { id: 'p1', cluster: 'api' } };
  const bytes = fullDescriptor.messageType('envoy.service.discovery.v3.DiscoveryRequest').encode(request).finish();
  const opts = { longs: Number, enums: String, defaults: false } as const;
  assert.deepEqual(type.toObject(type.decode(bytes), opts), request);
  // encoding after decoding: protobufjs generates the encoder on first use
  assert.deepEqual(type.toObject(type.decode(type.encode(type.fromObject(request)).finish()), opts), request);
});
