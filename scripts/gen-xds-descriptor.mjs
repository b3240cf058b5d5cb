// Builds the protobuf descriptor that both the control plane and the sidecar use for xDS.
// Loading the Envoy .proto files at run time costs the sidecar ~30 MB (shared/PERFORMANCE.md),
// so we resolve them once at build time from @grpc/grpc-js-xds's deps/ and keep only the
// message types reachable from the ones Trellis speaks, without their validation options.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = [
  'envoy-api', 'xds', 'googleapis', 'protoc-gen-validate',
].map((d) => path.join(deps, d));
includeDirs.push(path.join(path.dirname(require.resolve('protobufjs/package.json')))); // google/protobuf/*.proto

const entryFiles = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'xds/type/v3/typed_struct.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/any.proto',
];
// Message types Trellis encodes or decodes directly; everything they reference is kept.
const roots = [
  'envoy.service.discovery.v3.DiscoveryRequest',
  'envoy.service.discovery.v3.DiscoveryResponse',
  'envoy.config.listener.v3.Listener',
  'envoy.config.route.v3.RouteConfiguration',
  'envoy.config.cluster.v3.Cluster',
  'envoy.config.endpoint.v3.ClusterLoadAssignment',
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  'envoy.extensions.filters.http.router.v3.Router',
  'envoy.extensions.transport_sockets.tls.v3.Secret',
  // resilience (docs/xds.md): fault injection, and the carrier of Trellis's own settings
  'envoy.extensions.filters.http.fault.v3.HTTPFault',
  'xds.type.v3.TypedStruct',
  // mTLS and authorization (docs/xds.md, "mTLS" and "Authorization")
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  'envoy.extensions.filters.http.rbac.v3.RBAC',
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  // raw TCP and protocol detection (docs/protocols.md)
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  // the HTTP version a cluster's endpoints speak (docs/xds.md, "Upstream protocol")
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  'google.protobuf.Struct',
  'google.protobuf.Any',
  'google.protobuf.Duration',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
];
const services = ['envoy.service.discovery.v3.AggregatedDiscoveryService'];

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => {
  for (const dir of includeDirs) {
    const candidate = path.join(dir, target);
    if (existsSync(candidate)) return candidate;
  }
  return target;
};
root.loadSync(entryFiles, { keepCase: true });
root.resolveAll();

const keep = new Set();
function visit(type) {
  if (keep.has(type)) return;
  keep.add(type);
  // a nested type's parents must exist in the JSON for its path to resolve
  for (let p = type.parent; p && p !== root; p = p.parent) keep.add(p);
  if (type instanceof protobuf.Type) {
    for (const field of type.fieldsArray) if (field.resolvedType) visit(field.resolvedType);
  }
  if (type instanceof protobuf.Service) {
    for (const m of type.methodsArray) { visit(m.resolvedRequestType); visit(m.resolvedResponseType); }
  }
}
for (const name of [...roots, ...services]) visit(root.lookup(name));

const snakeCase = (n) => n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

// Emit a namespace tree with only kept objects and no options (validation rules, annotations).
function emit(ns) {
  const nested = {};
  for (const child of ns.nestedArray) {
    if (!keep.has(child)) continue;
    if (child instanceof protobuf.Type) {
      const fields = {};
      // protobufjs serves google/protobuf/*.proto from its bundled camelCase definitions
      // (Value.stringValue), ignoring keepCase; Trellis uses the proto's snake_case names everywhere.
      const fieldName = child.fullName.startsWith('.google.protobuf.') ? snakeCase : (n) => n;
      for (const f of child.fieldsArray) {
        const out = { type: f.type, id: f.id };
        if (f.repeated) out.rule = 'repeated';
        if (f.map) out.keyType = f.keyType;
        fields[fieldName(f.name)] = out;
      }
      const oneofs = {};
      for (const o of child.oneofsArray) oneofs[o.name] = { oneof: o.oneof.map(fieldName) };
      const json = { fields };
      if (Object.keys(oneofs).length) json.oneofs = oneofs;
      const sub = emit(child);
      if (Object.keys(sub).length) json.nested = sub;
      nested[child.name] = json;
    } else if (child instanceof protobuf.Enum) {
      nested[child.name] = { values: child.values };
    } else if (child instanceof protobuf.Service) {
      const methods = {};
      for (const m of child.methodsArray) {
        methods[m.name] = { requestType: m.requestType, responseType: m.responseType, requestStream: !!m.requestStream, responseStream: !!m.responseStream };
      }
      nested[child.name] = { methods };
    } else if (child instanceof protobuf.Namespace) {
      nested[child.name] = { nested: emit(child) };
    }
  }
  return nested;
}
// Keep packed encoding of repeated scalars: proto3 default, so nothing to record.
const json = { nested: emit(root) };
const outDir = path.join(here, '..', 'dist', 'src', 'xds');
mkdirSync(outDir, { recursive: true });
const out = path.join(outDir, 'envoy-descriptor.json');
writeFileSync(out + '.tmp', JSON.stringify(json));
renameSync(out + '.tmp', out);
console.log(`xds descriptor: ${keep.size} types -> ${path.relative(process.cwd(), out)}`);
