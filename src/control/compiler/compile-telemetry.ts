// MeshConfig's access-log and tracing settings → HttpConnectionManager fields of every sidecar
// listener (docs/xds.md, "Telemetry"): `tracing` with Envoy's random_sampling and a Trellis
// TypedStruct provider naming the collector, `access_log` with a Trellis TypedStruct. Absent
// fields mean off, so a mesh without a MeshConfig sends what it sent before.
import type { Resource } from '../../resources/kinds.js';
import type { MeshConfig } from '../../resources/mesh-config.js';
import { extensionTypeUrls, trellisStructs, typedStruct } from '../../xds/trellis-extensions.js';
import { packMessage } from './pack.js';
import type { XdsObject } from './xds-object.js';

function packTypedStruct(typeUrl: string, value: Record<string, unknown>): XdsObject {
  return packMessage(extensionTypeUrls.typedStruct, typedStruct(typeUrl, value)) as unknown as XdsObject;
}

/** The HCM fields for the mesh's telemetry settings; empty when both are off. */
export function compileHcmTelemetry(resources: readonly Resource[]): XdsObject {
  const mesh = resources.find((r) => r.kind === 'MeshConfig') as MeshConfig | undefined;
  if (mesh === undefined) return {};
  const out: XdsObject = {};
  const tracing = mesh.spec.tracing;
  if (tracing.samplingRate > 0 || tracing.collector !== undefined) {
    out.tracing = {
      random_sampling: { value: tracing.samplingRate * 100 },
      ...(tracing.collector === undefined ? {} : {
        provider: { name: trellisStructs.tracing.name, typed_config: packTypedStruct(trellisStructs.tracing.typeUrl, { collector: tracing.collector }) },
      }),
    };
  }
  const log = mesh.spec.accessLog;
  if (log.format !== 'off') {
    out.access_log = [{
      name: trellisStructs.accessLog.name,
      typed_config: packTypedStruct(trellisStructs.accessLog.typeUrl, { format: log.format, filter: log.filter }),
    }];
  }
  return out;
}
