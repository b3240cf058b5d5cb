// Hosts for balancer tests: the fields a balancer reads, writable so a test can set load and RTT.
import type { EndpointConfig } from '../../../../src/proxy/config/proxy-config.js';
import type { BalancerHost } from '../../../../src/proxy/cluster/balancer/load-balancer.js';
import { endpoint } from '../../proxy-test-support.js';

export interface TestHost extends BalancerHost {
  inFlight: number;
  rttMs: number;
  rttStampMs: number;
  hasRtt: boolean;
}

export function host(address: string, port = 1, extra: Partial<EndpointConfig> = {}): TestHost {
  return { kind: 'complete', endpoint: endpoint(address, port, extra), inFlight: 0, rttMs: 0, rttStampMs: 0, hasRtt: false };
}

/** Mulberry32: a small seeded PRNG, so draws are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Counts picks per address. */
export function tally(pick: () => BalancerHost | null, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h === null ? 'fail' : h.endpoint.address;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
