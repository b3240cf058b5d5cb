import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { packagePath } from '../common/package-root.js';
import type * as Protobuf from 'protobufjs';

// protobufjs/light: reflection without the .proto parser; the descriptors were resolved at
// build time (scripts/gen-xds-descriptor.mjs) and hold only the types Trellis uses.
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs/light') as typeof Protobuf;

/** Message types of one descriptor file, loaded on first use. */
export class XdsDescriptor {
  private root: Protobuf.Root | undefined;
  private readonly types = new Map<string, Protobuf.Type>();

  constructor(private readonly file: string) {}

  /** A message type by full name, e.g. "envoy.config.listener.v3.Listener"; throws on a name the descriptor lacks. */
  messageType(fullName: string): Protobuf.Type {
    let t = this.types.get(fullName);
    if (!t) {
      if (!this.root) {
        // From the package root rather than this module: the CLI runs bundled, from another directory.
        const json = JSON.parse(readFileSync(packagePath('dist', 'src', 'xds', this.file), 'utf8'));
        this.root = protobuf.Root.fromJSON(json);
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
export const sidecarDescriptor = new XdsDescriptor('envoy-sidecar-descriptor.json');

/** A message type of the full descriptor (the control plane's). */
export function messageType(fullName: string): Protobuf.Type {
  return fullDescriptor.messageType(fullName);
}

/** The full descriptor's type for an Any's type_url, or undefined when it does not hold it. */
export function typeForUrl(typeUrl: string): Protobuf.Type | undefined {
  return fullDescriptor.typeForUrl(typeUrl);
}
