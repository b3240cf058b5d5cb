import { createHash } from 'node:crypto';
import type { AnyMessage } from '../../xds/any.js';
import { adsOrder } from '../../xds/type-urls.js';
import type { Snapshot } from '../compiler/compile-snapshot.js';
import { packMessage } from '../compiler/pack.js';
import { resourcesVersion } from '../../xds/xds-versions.js';
import type { XdsObject } from '../compiler/xds-object.js';

/** One resource packed for the wire, with a digest of its bytes. */
export interface EncodedResource {
  any: AnyMessage;
  digest: string;
}

/** A snapshot packed for the wire, with a digest of its bytes to tell whether anything changed. */
export interface EncodedSnapshot {
  resources: Map<string, Map<string, AnyMessage>>;
  /** Per type URL, each resource's digest: what a stream compares to push only what changed. */
  digests: Map<string, Map<string, string>>;
  hash: string;
  /** Content versions already worked out, by type URL and names (see contentVersion). */
  readonly versions: Map<string, string>;
}

// A compiled object shared by many proxies (the compile cache hands out the same object) is
// packed once. Compiled objects are never changed after they are made.
const packed = new WeakMap<XdsObject, EncodedResource>();

export function encodeResource(typeUrl: string, object: XdsObject): EncodedResource {
  let entry = packed.get(object);
  if (!entry || entry.any.type_url !== typeUrl) {
    const any = packMessage(typeUrl, object);
    entry = { any, digest: createHash('sha256').update(any.value).digest('base64') };
    packed.set(object, entry);
  }
  return entry;
}

export function encodeSnapshot(snapshot: Snapshot): EncodedSnapshot {
  const digest = createHash('sha256');
  const resources = new Map<string, Map<string, AnyMessage>>();
  const digests = new Map<string, Map<string, string>>();
  const types = [...snapshot.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const typeUrl of types) {
    const anys = new Map<string, AnyMessage>();
    const prints = new Map<string, string>();
    const objects = snapshot.get(typeUrl)!;
    const names = [...objects.keys()].sort();
    digest.update(`\0type\0${typeUrl}`);
    for (const name of names) {
      const entry = encodeResource(typeUrl, objects.get(name)!);
      anys.set(name, entry.any);
      prints.set(name, entry.digest);
      digest.update(`\0name\0${name}\0${entry.digest}`);
    }
    resources.set(typeUrl, anys);
    digests.set(typeUrl, prints);
  }
  return { resources, digests, hash: digest.digest('hex'), versions: new Map() };
}

/**
 * The version of a type as a proxy holds it once it has `names` (sorted) of this snapshot: a
 * digest of those names and their resources' digests (src/xds/xds-versions.ts), the same on every
 * replica that compiles the same state, whether the response carried all of them or only changes.
 */
export function contentVersion(snapshot: EncodedSnapshot, typeUrl: string, names: readonly string[]): string {
  const key = `${typeUrl}\n${names.join('\n')}`;
  let version = snapshot.versions.get(key);
  if (version === undefined) {
    const digests = snapshot.digests.get(typeUrl) ?? new Map<string, string>();
    version = resourcesVersion(names.map((n) => [n, digests.get(n) ?? ''] as const));
    snapshot.versions.set(key, version);
  }
  return version;
}

function rank(typeUrl: string): number {
  const i = (adsOrder as readonly string[]).indexOf(typeUrl);
  return i < 0 ? adsOrder.length : i;
}
