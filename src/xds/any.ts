import { fullDescriptor, type XdsDescriptor } from './descriptor.js';
import { messageNameOf } from './type-urls.js';

export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** Packs a plain object (snake_case field names) into a google.protobuf.Any. */
export function packAny(typeUrl: string, object: Record<string, unknown>): AnyMessage {
  const type = fullDescriptor.messageType(messageNameOf(typeUrl));
  const err = type.verify(object);
  if (err) throw new Error(`cannot pack ${typeUrl}: ${err}`);
  return { type_url: typeUrl, value: type.encode(type.fromObject(object)).finish() };
}

/**
 * Unpacks an Any into a plain object, or returns undefined when the type is unknown to this build.
 * The sidecar passes its own, trimmed descriptor (src/proxy/xds/sidecar-any.ts).
 */
export function unpackAny(any: AnyMessage, descriptor: XdsDescriptor = fullDescriptor): Record<string, unknown> | undefined {
  const type = descriptor.typeForUrl(any.type_url);
  if (!type) return undefined;
  return type.toObject(type.decode(any.value), { longs: Number, enums: String, defaults: false, oneofs: true }) as Record<string, unknown>;
}
