// Content-derived xDS versions. A type's version_info is a digest of exactly the resources sent
// (names and packed bytes), so every control-plane replica compiling the same etcd state gives
// the same version string for the same content: a sidecar that moves to another replica quotes
// the versions it holds, and the new replica answers only the types whose content differs.
import { createHash } from 'node:crypto';
import { adsOrder } from './type-urls.js';

const digestChars = 16;

/**
 * The version of one type as a proxy holds it: a digest of its resources in name order, each given
 * by its packed bytes or by a digest of them (the control plane keeps a sha256 of each resource).
 */
export function resourcesVersion(resources: Iterable<readonly [name: string, content: Uint8Array | string]>): string {
  const digest = createHash('sha256');
  for (const [name, content] of resources) {
    digest.update(`${name.length}:${name}:${content.length}:`);
    digest.update(content);
  }
  return digest.digest('hex').slice(0, digestChars);
}

/** The version of a response that holds nothing (e.g. a withdrawn EDS subscription). */
export const emptyVersion = resourcesVersion([]);

/**
 * One version for a proxy's whole config, from the versions of its types: what `trellis get
 * proxies` shows as sent/ACKed and what the sidecar's /config_dump shows, computed the same way on
 * both sides. Types that hold nothing (or have no version yet) do not count, so a subscription
 * that is only withdrawn does not change it.
 */
export function combinedVersion(types: Iterable<readonly [typeUrl: string, version: string | null]>): string {
  const kept = [...types].filter(([, v]) => v !== null && v !== '' && v !== emptyVersion) as [string, string][];
  kept.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const digest = createHash('sha256');
  for (const [typeUrl, version] of kept) digest.update(`${typeUrl}=${version}\n`);
  return digest.digest('hex').slice(0, digestChars);
}

function rank(typeUrl: string): number {
  const i = (adsOrder as readonly string[]).indexOf(typeUrl);
  return i < 0 ? adsOrder.length : i;
}
