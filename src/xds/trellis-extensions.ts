// The typed extensions that carry Trellis's resilience settings where Envoy has no field
// (docs/xds.md, "Resilience"): shared by the control plane's compiler and the sidecar's decoders.
import { fromStruct, toStruct } from './node.js';

const prefix = 'type.googleapis.com/';

export const extensionTypeUrls = {
  /** xds.type.v3.TypedStruct: a type URL plus a Struct, for settings without a .proto of their own. */
  typedStruct: `${prefix}xds.type.v3.TypedStruct`,
  httpFault: `${prefix}envoy.extensions.filters.http.fault.v3.HTTPFault`,
} as const;

/** The inner type_url of each Trellis TypedStruct, and where it travels. */
export const trellisStructs = {
  peakEwma: { name: 'trellis.peak_ewma', typeUrl: 'trellis.dev/trellis.lb.PeakEwma' },
  retryBudget: { name: 'trellis.retry_budget', typeUrl: 'trellis.dev/trellis.RetryBudget' },
  retryOptions: { name: 'trellis.retry', typeUrl: 'trellis.dev/trellis.RetryOptions' },
  /** HttpConnectionManager `tracing.provider` (docs/xds.md, "Telemetry"). */
  tracing: { name: 'trellis.tracing', typeUrl: 'trellis.dev/trellis.Tracing' },
  /** HttpConnectionManager `access_log[0]`. */
  accessLog: { name: 'trellis.access_log', typeUrl: 'trellis.dev/trellis.AccessLog' },
} as const;

/** The key of the fault settings in a route's typed_per_filter_config (Envoy's filter name). */
export const faultFilterName = 'envoy.filters.http.fault';

/** A TypedStruct as a plain object ready for protobufjs (value as a google.protobuf.Struct). */
export function typedStruct(typeUrl: string, value: Record<string, unknown>): Record<string, unknown> {
  return { type_url: typeUrl, value: toStruct(value) };
}

/** A decoded TypedStruct's inner type_url and its value as plain JSON. */
export function readTypedStruct(ts: Record<string, any>): { typeUrl: string; value: Record<string, unknown> } {
  return { typeUrl: typeof ts.type_url === 'string' ? ts.type_url : '', value: fromStruct(ts.value) };
}
