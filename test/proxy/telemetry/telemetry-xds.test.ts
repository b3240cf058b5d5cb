// MeshConfig's tracing and access-log settings travel to the sidecar's listeners over xDS
// (docs/xds.md, "Telemetry"): compile → protobuf bytes → decode gives the typed settings;
// malformed ones are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { decodeResourceBytes, listenerKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { decodeHcmTelemetry } from '../../../src/proxy/xds/telemetry-decoder.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { extensionTypeUrls, typedStruct } from '../../../src/xds/trellis-extensions.js';
import { packMessage } from '../../../src/control/compiler/pack.js';
import type { NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.34.200', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.34.200', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

function listeners(resources: Resource[]) {
  const enc = encodeSnapshot(compileSnapshot({ resources, instances: [] }, node));
  const out: Record<string, any> = {};
  for (const [name, any] of enc.resources.get(typeUrls.listener)!) {
    const r = decodeResourceBytes(listenerKind, any.value);
    if (!r.ok) assert.fail(r.error);
    out[name] = r.value;
  }
  return out;
}

test('MeshConfig tracing and access log reach both listeners; no MeshConfig, or both off, sends nothing', () => {
  const on = listeners(parse(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  tracing: { samplingRate: 0.01, collector: "127.0.34.201:4318" }
  accessLog: { format: json, filter: errors }
`));
  for (const name of ['inbound', 'outbound']) {
    assert.deepEqual(on[name].telemetry, {
      tracing: { samplingRate: 0.01, collector: '127.0.34.201:4318' },
      accessLog: { format: 'json', filter: 'errors' },
    });
  }
  assert.equal(listeners([]).outbound.telemetry, undefined);
  const off = listeners(parse('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: {}\n'));
  assert.equal(off.outbound.telemetry, undefined, 'access logs are opt-in and tracing is off by default');
  const sampleOnly = listeners(parse('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { tracing: { samplingRate: 1 }, accessLog: { format: text } }\n'));
  assert.deepEqual(sampleOnly.inbound.telemetry, { tracing: { samplingRate: 1, collector: null }, accessLog: { format: 'text', filter: 'all' } });
});

test('telemetry decoder refuses what it does not implement', () => {
  const struct = (typeUrl: string, value: Record<string, unknown>) => packMessage(extensionTypeUrls.typedStruct, typedStruct(typeUrl, value));
  const bad = (hcm: Record<string, unknown>) => {
    const r = decodeHcmTelemetry(hcm);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.error;
  };
  assert.match(bad({ tracing: { random_sampling: { value: 150 } } }), /random_sampling/);
  assert.match(bad({ tracing: { provider: { name: 'envoy.tracers.zipkin', typed_config: struct('trellis.dev/trellis.Tracing', { collector: 'x:1' }) } } }), /provider\.name/);
  assert.match(bad({ tracing: { provider: { name: 'trellis.tracing', typed_config: struct('trellis.dev/other', { collector: 'x:1' }) } } }), /trellis\.dev\/other/);
  assert.match(bad({ access_log: [{ name: 'trellis.access_log', typed_config: struct('trellis.dev/trellis.AccessLog', { format: 'xml' }) }] }), /format/);
  assert.match(bad({ access_log: [{ name: 'envoy.access_loggers.file', typed_config: struct('trellis.dev/trellis.AccessLog', {}) }] }), /name/);
});

test('MeshConfig validation: a collector must be host:port or an http URL', () => {
  const r = parseResources('apiVersion: trellis.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec: { tracing: { collector: "not a url" } }\n', 't.yaml');
  assert.equal(r.ok, false);
});
