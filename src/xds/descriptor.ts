import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { packagePath } from '../common/package-root.js';
import type * as Protobuf from 'protobufjs';

// protobufjs/light: reflection without the .proto parser; the descriptor was resolved at
// build time (scripts/gen-xds-descriptor.mjs) and holds only the types Trellis uses.
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs/light') as typeof Protobuf;

let root: Protobuf.Root | undefined;

export function xdsRoot(): Protobuf.Root {
  if (!root) {
    // From the package root rather than this module: the CLI runs bundled, from another directory.
    const json = JSON.parse(readFileSync(packagePath('dist', 'src', 'xds', 'envoy-descriptor.json'), 'utf8'));
    root = protobuf.Root.fromJSON(json);
  }
  return root;
}

const typeCache = new Map<string, Protobuf.Type>();

/** A message type by full name, e.g. "envoy.config.listener.v3.Listener"; throws on a name the descriptor lacks. */
export function messageType(fullName: string): Protobuf.Type {
  let t = typeCache.get(fullName);
  if (!t) {
    t = xdsRoot().lookupType(fullName);
    typeCache.set(fullName, t);
  }
  return t;
}

/** The type for an Any's type_url, or undefined when the descriptor does not hold it. */
export function typeForUrl(typeUrl: string): Protobuf.Type | undefined {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  try {
    return messageType(name);
  } catch {
    return undefined;
  }
}
