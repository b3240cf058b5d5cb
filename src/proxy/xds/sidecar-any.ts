// The sidecar's decoders unpack typed extensions with the sidecar's own descriptor, trimmed to the
// fields they read (src/xds/descriptor.ts), so a sidecar never loads the control plane's full one.
import { sidecarDescriptor } from '../../xds/descriptor.js';
import { unpackAny as unpackWith, type AnyMessage } from '../../xds/any.js';

/** An Any's message as a plain object, or undefined when its type is not one the sidecar knows. */
export function unpackAny(any: AnyMessage): Record<string, unknown> | undefined {
  return unpackWith(any, sidecarDescriptor);
}
