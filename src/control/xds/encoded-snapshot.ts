import { createHash } from 'node:crypto';
import type { AnyMessage } from '../../xds/any.js';
import { adsOrder } from '../../xds/type-urls.js';
import type { Snapshot } from '../compiler/compile-snapshot.js';
import { packMessage } from '../compiler/pack.js';

/** A snapshot packed for the wire, with a digest of its bytes to tell whether anything changed. */
export interface EncodedSnapshot {
  resources: Map<string, Map<string, AnyMessage>>;
  hash: string;
}

export function encodeSnapshot(snapshot: Snapshot): EncodedSnapshot {
  const digest = createHash('sha256');
  const resources = new Map<string, Map<string, AnyMessage>>();
  const types = [...snapshot.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const typeUrl of types) {
    const packed = new Map<string, AnyMessage>();
    const names = [...snapshot.get(typeUrl)!.keys()].sort();
    digest.update(`\0type\0${typeUrl}`);
    for (const name of names) {
      const any = packMessage(typeUrl, snapshot.get(typeUrl)!.get(name)!);
      packed.set(name, any);
      digest.update(`\0name\0${name}\0`);
      digest.update(any.value);
    }
    resources.set(typeUrl, packed);
  }
  return { resources, hash: digest.digest('hex') };
}

function rank(typeUrl: string): number {
  const i = (adsOrder as readonly string[]).indexOf(typeUrl);
  return i < 0 ? adsOrder.length : i;
}
