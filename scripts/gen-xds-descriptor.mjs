// Builds the protobuf descriptors of xDS: the control plane's (every type reachable from the ones
// Trellis speaks, with all their fields: it encodes them) and the sidecar's, trimmed further to the
// fields its decoders read (scripts/xds-sidecar-fields.mjs). Loading the Envoy .proto files at run
// time costs the sidecar ~30 MB (shared/PERFORMANCE.md), so we resolve them once at build time from
// @grpc/grpc-js-xds's deps/, without their validation options.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFields, wholeDeep, wholeTypes } from './xds-sidecar-fields.mjs';

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
// `fieldsOf` picks a type's fields (all of them for the control plane's descriptor).
function emit(ns, keep, fieldsOf = (type) => type.fieldsArray) {
  const nested = {};
  for (const child of ns.nestedArray) {
    if (!keep.has(child)) continue;
    if (child instanceof protobuf.Type) {
      const fields = {};
      // protobufjs serves google/protobuf/*.proto from its bundled camelCase definitions
      // (Value.stringValue), ignoring keepCase; Trellis uses the proto's snake_case names everywhere.
      const fieldName = child.fullName.startsWith('.google.protobuf.') ? snakeCase : (n) => n;
      const kept = fieldsOf(child);
      for (const f of kept) {
        const out = { type: f.type, id: f.id };
        if (f.repeated) out.rule = 'repeated';
        if (f.map) out.keyType = f.keyType;
        fields[fieldName(f.name)] = out;
      }
      const oneofs = {};
      for (const o of child.oneofsArray) {
        const members = o.fieldsArray.filter((f) => kept.includes(f));
        if (members.length) oneofs[o.name] = { oneof: members.map((f) => fieldName(f.name)) };
      }
      const json = { fields };
      if (Object.keys(oneofs).length) json.oneofs = oneofs;
      const sub = emit(child, keep, fieldsOf);
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
      nested[child.name] = { nested: emit(child, keep, fieldsOf) };
    }
  }
  return nested;
}
// Keep packed encoding of repeated scalars: proto3 default, so nothing to record.
const outDir = path.join(here, '..', 'dist', 'src', 'xds');
mkdirSync(outDir, { recursive: true });
function write(file, json, types) {
  const out = path.join(outDir, file);
  writeFileSync(out + '.tmp', JSON.stringify(json));
  renameSync(out + '.tmp', out);
  console.log(`xds descriptor: ${types} types -> ${path.relative(process.cwd(), out)}`);
}
write('envoy-descriptor.json', { nested: emit(root, keep) }, keep.size);

// ---- the sidecar's descriptor ----
// What the sidecar decodes: the ADS messages, the four resources, and the typed extensions its
// decoders unpack (not Secret: the sidecar has no SDS).
const sidecarRoots = roots.filter((n) => n !== 'envoy.extensions.transport_sockets.tls.v3.Secret');

function lookupType(name, where) {
  const t = root.lookup(name);
  if (!(t instanceof protobuf.Type)) throw new Error(`scripts/xds-sidecar-fields.mjs: ${where} names "${name}", which is not a message type of the descriptor`);
  return t;
}
const whole = new Set(wholeTypes.map((n) => lookupType(n, 'wholeTypes')));
const listed = new Map();
for (const [name, fields] of Object.entries(readFields)) {
  const t = lookupType(name, 'readFields');
  const picked = new Set();
  for (const f of fields) {
    if (f.startsWith('#')) {
      const oneof = t.oneofs?.[f.slice(1)];
      if (!oneof) throw new Error(`scripts/xds-sidecar-fields.mjs: readFields["${name}"] names oneof "${f.slice(1)}", which ${name} does not have`);
      for (const m of oneof.fieldsArray) picked.add(m);
    } else {
      // google/protobuf types come camelCase from protobufjs's own definitions (see emit)
      const field = t.fields[f] ?? t.fieldsArray.find((x) => snakeCase(x.name) === f);
      if (!field) throw new Error(`scripts/xds-sidecar-fields.mjs: readFields["${name}"] names field "${f}", which ${name} does not have`);
      picked.add(field);
    }
  }
  listed.set(t, picked);
}
// Types from which a google.protobuf.Any can be reached, found as a fixed point (message types
// refer to each other in cycles, e.g. Permission.and_rules).
const anyType = root.lookup('google.protobuf.Any');
const reachesAny = new Set([anyType]);
for (let grew = true; grew;) {
  grew = false;
  for (const t of keep) {
    if (!(t instanceof protobuf.Type) || reachesAny.has(t)) continue;
    if (t.fieldsArray.some((f) => f.resolvedType && reachesAny.has(f.resolvedType))) {
      reachesAny.add(t);
      grew = true;
    }
  }
}
function sidecarFieldsOf(type) {
  if (whole.has(type)) return type.fieldsArray;
  const picked = listed.get(type) ?? new Set();
  const kept = type.fieldsArray.filter((f) => picked.has(f) || (f.resolvedType && reachesAny.has(f.resolvedType)));
  // A oneof with one member kept keeps them all, so the decoders still see which member is set.
  for (const o of type.oneofsArray) {
    if (o.fieldsArray.some((f) => kept.includes(f))) for (const f of o.fieldsArray) if (!kept.includes(f)) kept.push(f);
  }
  return type.fieldsArray.filter((f) => kept.includes(f));
}
for (const name of wholeDeep) {
  const mark = (t) => {
    if (!(t instanceof protobuf.Type) || whole.has(t)) return;
    whole.add(t);
    for (const f of t.fieldsArray) if (f.resolvedType) mark(f.resolvedType);
  };
  mark(lookupType(name, 'wholeDeep'));
}
const sidecarKeep = new Set();
function visitSidecar(type) {
  if (sidecarKeep.has(type)) return;
  sidecarKeep.add(type);
  for (let p = type.parent; p && p !== root; p = p.parent) if (!sidecarKeep.has(p)) sidecarKeep.add(p);
  if (type instanceof protobuf.Type) for (const f of sidecarFieldsOf(type)) if (f.resolvedType) visitSidecar(f.resolvedType);
}
for (const name of [...sidecarRoots, ...wholeDeep]) visitSidecar(lookupType(name, 'the roots'));
// A parent kept only so a nested type's path resolves has no reason to keep fields of its own.
const reached = new Set();
const markReached = (t) => {
  if (reached.has(t)) return;
  reached.add(t);
  if (t instanceof protobuf.Type) for (const f of sidecarFieldsOf(t)) if (f.resolvedType) markReached(f.resolvedType);
};
for (const name of [...sidecarRoots, ...wholeDeep]) markReached(root.lookup(name));
const sidecarJson = { nested: emit(root, sidecarKeep, (t) => (reached.has(t) ? sidecarFieldsOf(t) : [])) };
write('envoy-sidecar-descriptor.json', sidecarJson, reached.size);
