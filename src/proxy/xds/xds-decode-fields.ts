// Field readers shared by the resource decoders: durations, addresses, Struct labels, and the
// check that a resource carries no typed extension this sidecar does not implement (docs/xds.md).
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { fromStruct } from '../../xds/node.js';
import { extensionTypeUrls, faultFilterName, readTypedStruct, trellisStructs } from '../../xds/trellis-extensions.js';
import { typeUrls } from '../../xds/type-urls.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

/** The typed extensions a sidecar accepts anywhere (docs/xds.md, "Typed extensions a sidecar accepts"). */
export const acceptedTypedExtensions: ReadonlySet<string> = new Set([typeUrls.httpConnectionManager, typeUrls.router]);

// The resilience extensions are accepted only in the one place each belongs; the decoder of that
// place checks what is inside (the TypedStruct's own type_url, the fault's fields).
const placedExtensions: [string, RegExp][] = [
  [extensionTypeUrls.typedStruct, new RegExp(`typed_per_filter_config\\["${trellisStructs.retryOptions.name.replace('.', '\\.')}"\\]$`)],
  [extensionTypeUrls.typedStruct, new RegExp(`^typed_extension_protocol_options\\["${trellisStructs.retryBudget.name.replace('.', '\\.')}"\\]$`)],
  [extensionTypeUrls.typedStruct, /^load_balancing_policy\.policies\[\d+\]\.typed_extension_config\.typed_config$/],
  [extensionTypeUrls.typedStruct, /^tracing\.provider\.typed_config$/],
  [extensionTypeUrls.typedStruct, /^access_log\[0\]\.typed_config$/],
  [extensionTypeUrls.httpFault, new RegExp(`typed_per_filter_config\\["${faultFilterName.replace(/\./g, '\\.')}"\\]$`)],
];

function acceptedAt(url: string, path: string): boolean {
  if (acceptedTypedExtensions.has(url)) return true;
  for (const [u, where] of placedExtensions) if (u === url && where.test(path)) return true;
  return false;
}

/** google.protobuf.Duration → whole milliseconds, or undefined when absent. */
export function durationMs(d: ProtoObject | undefined | null): number | undefined {
  if (!d) return undefined;
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  return Math.round(seconds * 1000 + nanos / 1e6);
}

export type SocketAddressResult = { address: string; port: number } | string;

/** envoy.config.core.v3.Address with a socket_address and a numeric port; an error string otherwise. */
export function socketAddress(addr: ProtoObject | undefined | null): SocketAddressResult {
  if (!addr) return 'address is required';
  const sa = addr.socket_address;
  if (!sa) return addr.pipe ? 'pipe addresses are not supported' : addr.envoy_internal_address ? 'internal addresses are not supported' : 'address.socket_address is required';
  if (typeof sa.address !== 'string' || sa.address === '') return 'socket_address.address is required';
  if (sa.named_port) return `socket_address.named_port "${sa.named_port}" is not supported`;
  const port = Number(sa.port_value ?? 0);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return 'socket_address.port_value is required (1-65535)';
  if (sa.protocol && sa.protocol !== 'TCP') return `socket_address.protocol ${sa.protocol} is not supported`;
  return { address: sa.address, port };
}

/** Labels from metadata.filter_metadata.trellis (a Struct); non-string values become strings. */
export function trellisLabels(metadata: ProtoObject | undefined | null): Record<string, string> {
  const labels: Record<string, string> = {};
  const struct = metadata?.filter_metadata?.trellis;
  if (!struct) return labels;
  for (const [k, v] of Object.entries(fromStruct(struct))) {
    if (v !== null && v !== undefined) labels[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return labels;
}

function isAny(v: unknown): v is { type_url: string; value: Uint8Array } {
  return typeof v === 'object' && v !== null && typeof (v as ProtoObject).type_url === 'string' && 'value' in (v as ProtoObject);
}

/**
 * Finds the first google.protobuf.Any anywhere in a decoded message whose type is not accepted,
 * and describes where it is ("filter_chains[0].transport_socket.typed_config"). The decoders check
 * the places they expect extensions explicitly; this catches the places they do not look at.
 */
export function findUnknownTypedExtension(obj: unknown, path = ''): string | undefined {
  if (isAny(obj)) {
    return acceptedAt(obj.type_url, path) ? undefined : `unknown typed extension ${obj.type_url || '(empty type_url)'} in ${path || 'the resource'}`;
  }
  if (obj === null || typeof obj !== 'object' || obj instanceof Uint8Array) return undefined;
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const found = findUnknownTypedExtension(obj[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(obj)) {
    const found = findUnknownTypedExtension(v, path ? (/^[a-z_][a-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}["${k}"]`) : k);
    if (found) return found;
  }
  return undefined;
}

/** Checks a map<string, Any> typed_per_filter_config; returns an error naming the key and type. */
export function checkPerFilterConfig(config: ProtoObject | undefined | null): string | undefined {
  if (!config) return undefined;
  for (const [key, any] of Object.entries(config)) {
    const url = (any as ProtoObject)?.type_url ?? '';
    if (!acceptedTypedExtensions.has(url)) return `unknown typed extension ${url || '(empty type_url)'} in typed_per_filter_config["${key}"]`;
  }
  return undefined;
}

/** A google.protobuf wrapper (UInt32Value, ...) → its number, or undefined when absent. */
export function wrapped(v: ProtoObject | undefined | null): number | undefined {
  if (!v) return undefined;
  return Number(v.value ?? 0);
}

/** An Any that must hold a TypedStruct whose own type_url is `typeUrl`; its value as plain JSON. */
export function trellisStruct(any: ProtoObject | undefined | null, typeUrl: string): DecodeResult<Record<string, unknown>> {
  const url = (any as AnyMessage | undefined)?.type_url ?? '';
  if (url !== extensionTypeUrls.typedStruct) return refused(`unknown typed extension ${url || '(empty type_url)'} (expected a TypedStruct of ${typeUrl})`);
  let ts: ProtoObject | undefined;
  try {
    ts = unpackAny(any as AnyMessage);
  } catch (err) {
    return refused(`malformed TypedStruct: ${(err as Error).message}`);
  }
  const inner = readTypedStruct(ts ?? {});
  if (inner.typeUrl !== typeUrl) return refused(`unknown typed extension ${inner.typeUrl || '(empty type_url)'} in a TypedStruct (expected ${typeUrl})`);
  return decoded(inner.value);
}

/**
 * A number from a TypedStruct's value: `fallback` when absent, an error string when it is not a
 * number within [min, max] (or not whole when `integer`).
 */
export function structNumber(value: Record<string, unknown>, key: string, fallback: number, min: number, max: number, integer = false): number | string {
  const v = value[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    return `${key} must be ${integer ? 'a whole number' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(v)}`;
  }
  return v;
}

const denominators: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** envoy.type.v3.FractionalPercent → percent (0-100); an error string when malformed. */
export function fractionalPercent(fp: ProtoObject | undefined | null): number | string {
  if (!fp) return 'percentage is required';
  const denominator = denominators[fp.denominator ?? 'HUNDRED'];
  if (!denominator) return `percentage.denominator ${fp.denominator} is not supported`;
  const numerator = Number(fp.numerator ?? 0);
  if (!Number.isInteger(numerator) || numerator < 0) return 'percentage.numerator must be a whole number';
  // Envoy treats a numerator above the denominator as 100%
  return Math.min(100, (numerator * 100) / denominator);
}
