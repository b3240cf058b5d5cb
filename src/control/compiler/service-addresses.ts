// Service virtual IPs (Kubernetes' ClusterIPs): each service gets one address from the
// MeshConfig's serviceCidr, so an intercepted app can call `http://api:8080/` with `api` resolving
// to it (or the address itself) and its sidecar knows which service the connection is for.
// A Service may pin its own (`spec.clusterIP`); the others are placed by a hash of
// `<name>.<namespace>`, probing past taken addresses in the order services were created, so an
// address does not move while its service exists — unless an older service it collided with is
// deleted (pin `spec.clusterIP` where that matters).
import { isIPv4 } from 'node:net';
import type { Resource } from '../../resources/kinds.js';
import type { MeshConfig } from '../../resources/mesh-config.js';

export const defaultServiceCidr = '10.96.0.0/16';

export interface ServiceAddressInput {
  key: string;
  /** spec.clusterIP of the Service resource, when pinned. */
  pinned?: string;
  /** Creation time of the Service resource; registered-only services have none and come last. */
  createdAt?: string;
}

export function serviceCidr(resources: readonly Resource[]): string {
  const mesh = resources.find((r): r is MeshConfig => r.kind === 'MeshConfig');
  return mesh?.spec.serviceCidr ?? defaultServiceCidr;
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** FNV-1a, 32 bits: stable across runs and replicas, unlike anything seeded. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** key → address. A CIDR smaller than the service count leaves the latest services without one. */
export function allocateServiceAddresses(services: readonly ServiceAddressInput[], cidr: string): Map<string, string> {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  const network = ipv4ToInt(base) - (ipv4ToInt(base) % size);
  const usable = size - 2; // neither the network nor the broadcast address
  const ordered = [...services].sort((a, b) =>
    (a.createdAt ?? '\uffff').localeCompare(b.createdAt ?? '\uffff') || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const taken = new Set<string>();
  const out = new Map<string, string>();
  // pinned first, oldest first: a duplicate pin loses to the older Service and is placed by hash
  for (const s of ordered) {
    if (s.pinned && isIPv4(s.pinned) && !taken.has(s.pinned)) {
      taken.add(s.pinned);
      out.set(s.key, s.pinned);
    }
  }
  if (usable <= 0) return out;
  for (const s of ordered) {
    if (out.has(s.key)) continue;
    if (taken.size >= usable + out.size) break;
    const start = hash(s.key) % usable;
    for (let i = 0; i < usable; i++) {
      const ip = intToIpv4(network + 1 + ((start + i) % usable));
      if (!taken.has(ip)) {
        taken.add(ip);
        out.set(s.key, ip);
        break;
      }
    }
  }
  return out;
}
