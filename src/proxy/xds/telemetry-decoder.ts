// HttpConnectionManager `tracing` and `access_log` → ListenerTelemetryConfig (docs/xds.md,
// "Telemetry"): the exact inverse of the compiler's compile-telemetry.ts. Anything else in those
// fields is refused, so a sidecar never silently ignores telemetry it was asked for.
import { trellisStructs } from '../../xds/trellis-extensions.js';
import type { AccessLogSettings, ListenerTelemetryConfig, TracingSettings } from '../telemetry/telemetry-settings.js';
import { trellisStruct } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

function decodeTracing(t: ProtoObject): DecodeResult<TracingSettings> {
  for (const f of ['client_sampling', 'overall_sampling', 'custom_tags', 'spawn_upstream_span'] as const) {
    const v = t[f];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) return refused(`tracing.${f} is not supported`);
  }
  // Envoy's default random_sampling is 100 %.
  const percent = t.random_sampling ? Number(t.random_sampling.value ?? 0) : 100;
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) return refused(`tracing.random_sampling.value must be 0-100, got ${percent}`);
  let collector: string | null = null;
  if (t.provider) {
    const p = t.provider as ProtoObject;
    if (p.name !== trellisStructs.tracing.name) return refused(`tracing.provider.name must be "${trellisStructs.tracing.name}", got "${p.name ?? ''}"`);
    const v = trellisStruct(p.typed_config, trellisStructs.tracing.typeUrl);
    if (!v.ok) return refused(`tracing.provider.typed_config: ${v.error}`);
    if (typeof v.value.collector !== 'string' || v.value.collector === '') return refused('tracing.provider: collector must be a non-empty string');
    collector = v.value.collector;
  }
  return decoded({ samplingRate: percent / 100, collector });
}

function decodeAccessLog(logs: ProtoObject[]): DecodeResult<AccessLogSettings> {
  if (logs.length !== 1) return refused(`access_log must hold one entry, got ${logs.length}`);
  const l = logs[0];
  if (l.name !== trellisStructs.accessLog.name) return refused(`access_log[0].name must be "${trellisStructs.accessLog.name}", got "${l.name ?? ''}"`);
  if (l.filter) return refused('access_log[0].filter is not supported (the filter travels in the TypedStruct)');
  const v = trellisStruct(l.typed_config, trellisStructs.accessLog.typeUrl);
  if (!v.ok) return refused(`access_log[0].typed_config: ${v.error}`);
  const format = v.value.format ?? 'json';
  const filter = v.value.filter ?? 'all';
  if (format !== 'json' && format !== 'text') return refused(`access_log[0]: format must be json or text, got ${JSON.stringify(format)}`);
  if (filter !== 'all' && filter !== 'errors') return refused(`access_log[0]: filter must be all or errors, got ${JSON.stringify(filter)}`);
  return decoded({ format, filter });
}

/** Undefined when the HCM carries neither field. */
export function decodeHcmTelemetry(hcm: ProtoObject): DecodeResult<ListenerTelemetryConfig | undefined> {
  const out: ListenerTelemetryConfig = {};
  if (hcm.tracing) {
    const t = decodeTracing(hcm.tracing as ProtoObject);
    if (!t.ok) return t;
    out.tracing = t.value;
  }
  const logs = (hcm.access_log ?? []) as ProtoObject[];
  if (logs.length > 0) {
    const l = decodeAccessLog(logs);
    if (!l.ok) return l;
    out.accessLog = l.value;
  }
  return decoded(out.tracing === undefined && out.accessLog === undefined ? undefined : out);
}
