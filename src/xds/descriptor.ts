import { readFileSync } from 'node:fs';
import { packagePath } from '../common/package-root.js';
import type * as Protobuf from 'protobufjs';
// protobufjs/light: reflection without the .proto parser; the descriptors were resolved at
// build time (scripts/gen-xds-descriptor.mjs) and hold only the types Trellis uses. Imported
// statically (not through createRequire) so the CLI's bundle carries it minified
// (scripts/bundle-cli.mjs) instead of a sidecar loading its ~20 CommonJS files at start.
import protobufLight from 'protobufjs/light.js';

const protobuf = protobufLight as unknown as typeof Protobuf;

/** Message types of one descriptor file, loaded on first use. */
export class XdsDescriptor {
  private root: Protobuf.Root | undefined;
  private readonly types = new Map<string, Protobuf.Type>();

  constructor(private readonly file: string, private readonly decodeOnly = false) {}

  /** A message type by full name, e.g. "envoy.config.listener.v3.Listener"; throws on a name the descriptor lacks. */
  messageType(fullName: string): Protobuf.Type {
    let t = this.types.get(fullName);
    if (!t) {
      if (!this.root) {
        // From the package root rather than this module: the CLI runs bundled, from another directory.
        const json = JSON.parse(readFileSync(packagePath('dist', 'src', 'xds', this.file), 'utf8'));
        this.root = protobuf.Root.fromJSON(json);
        if (this.decodeOnly) decodeOnly(this.root);
      }
      t = this.root.lookupType(fullName);
      this.types.set(fullName, t);
    }
    return t;
  }

  /** The type for an Any's type_url, or undefined when the descriptor does not hold it. */
  typeForUrl(typeUrl: string): Protobuf.Type | undefined {
    const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    try {
      return this.messageType(name);
    } catch {
      return undefined;
    }
  }
}

/** Every type Trellis speaks with all its fields: the control plane's, which encodes them. */
export const fullDescriptor = new XdsDescriptor('envoy-descriptor.json');

/**
 * The sidecar's: the same types trimmed to the fields its decoders read, keeping every field that
 * can reach a google.protobuf.Any so unknown typed extensions are still seen (scripts/xds-sidecar-fields.mjs).
 * About 2 MB less of the sidecar's memory than the full one (docs/sidecar-memory.md).
 */
export const sidecarDescriptor = new XdsDescriptor('envoy-sidecar-descriptor.json', true);

/**
 * protobufjs generates five functions per type on first use (encode, decode, verify, fromObject,
 * toObject); a sidecar decodes every resource type but encodes only its DiscoveryRequest. Here
 * decode and toObject are generated alone, on first use, as Type.setup would; a type that is
 * encoded still gets the rest from setup when first asked.
 */
function decodeOnly(root: Protobuf.Root): void {
  const visit = (ns: Protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) lazyDecoders(child);
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) visit(child as Protobuf.NamespaceBase);
    }
  };
  visit(root);
}

function lazyDecoders(type: Protobuf.Type): void {
  const generate = (): void => {
    const types = type.fieldsArray.map((f) => f.resolve().resolvedType);
    type.decode = (protobuf.decoder(type) as any)({ Reader: protobuf.Reader, types, util: protobuf.util });
    type.toObject = (protobuf.converter.toObject(type) as any)({ types, util: protobuf.util });
  };
  // protobufjs 7 passes a recursion depth after the documented arguments: pass everything on
  type.decode = function decodeSetup(...args: unknown[]) {
    generate();
    return (type.decode as (...a: unknown[]) => Protobuf.Message)(...args);
  };
  type.toObject = function toObjectSetup(...args: unknown[]) {
    generate();
    return (type.toObject as (...a: unknown[]) => Record<string, unknown>)(...args);
  };
}

/** A message type of the full descriptor (the control plane's). */
export function messageType(fullName: string): Protobuf.Type {
  return fullDescriptor.messageType(fullName);
}

/** The full descriptor's type for an Any's type_url, or undefined when it does not hold it. */
export function typeForUrl(typeUrl: string): Protobuf.Type | undefined {
  return fullDescriptor.typeForUrl(typeUrl);
}
