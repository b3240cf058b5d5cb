// Peak-EWMA with power of two choices (Finagle, Linkerd, tower's PeakEwma): each host carries an
// RTT estimate that jumps to a new peak at once and otherwise decays exponentially with the time
// constant decayMs, towards zero while the host gets no answers (so a host that was slow is tried
// again once its cost has faded). Load = cost × (in-flight + 1) / weight; a host without history
// costs defaultRttMs, so a new host is tried rather than starved. Of two distinct hosts drawn at
// random the one with the lower load wins: O(1), no allocation, and no herd on the single
// "best" host the way a global minimum would cause.
import type { LbPolicy } from '../../config/proxy-config.js';
import {
  failPicker, registerLoadBalancer, usable, type BalancerHost, type LoadBalancer, type LoadBalancerDeps, type PickResult,
  type Picker,
} from './load-balancer.js';

export const peakEwmaName = 'peak-ewma';
export const defaultDecayMs = 10_000;
export const defaultRttMs = 30;

/** The host fields the estimate lives in; the cluster owns the host and calls observeRtt. */
export interface RttState {
  rttMs: number;
  rttStampMs: number;
  hasRtt: boolean;
}

/** The estimate at `now`, decayed since its last update (read-only, so a pick writes nothing). */
export function rttCost(h: BalancerHost, now: number, decayMs: number, defaultMs: number): number {
  if (!h.hasRtt) return defaultMs;
  const elapsed = now - h.rttStampMs;
  return elapsed > 0 ? h.rttMs * Math.exp(-elapsed / decayMs) : h.rttMs;
}

/** Feeds one observed RTT: a peak replaces the estimate, a lower value pulls it down by recency. */
export function observeRtt(h: RttState, rttMs: number, now: number, decayMs: number): void {
  if (!h.hasRtt) {
    h.rttMs = rttMs;
    h.hasRtt = true;
    h.rttStampMs = now;
    return;
  }
  const elapsed = now - h.rttStampMs;
  const decay = elapsed > 0 ? Math.exp(-elapsed / decayMs) : 1;
  const current = h.rttMs * decay;
  h.rttMs = rttMs >= current ? rttMs : current * decay + rttMs * (1 - decay);
  h.rttStampMs = now;
}

class PeakEwmaPicker implements Picker {
  constructor(
    private readonly hosts: readonly BalancerHost[],
    private readonly decayMs: number,
    private readonly defaultMs: number,
    private readonly deps: LoadBalancerDeps,
  ) {}

  pick(): PickResult {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 1) return hosts[0];
    const random = this.deps.random;
    const i = Math.floor(random() * n);
    let j = Math.floor(random() * (n - 1));
    if (j >= i) j++;
    const now = this.deps.now();
    const a = hosts[i];
    const b = hosts[j];
    return this.load(b, now) < this.load(a, now) ? b : a;
  }

  private load(h: BalancerHost, now: number): number {
    return (rttCost(h, now, this.decayMs, this.defaultMs) * (h.inFlight + 1)) / h.endpoint.weight;
  }
}

export class PeakEwmaLoadBalancer implements LoadBalancer {
  readonly name = peakEwmaName;
  picker: Picker = failPicker;
  private readonly decayMs: number;
  private readonly defaultMs: number;

  constructor(policy: Extract<LbPolicy, { kind: 'peak-ewma' }>, private readonly deps: LoadBalancerDeps) {
    this.decayMs = policy.decayMs > 0 ? policy.decayMs : defaultDecayMs;
    this.defaultMs = policy.defaultRttMs > 0 ? policy.defaultRttMs : defaultRttMs;
  }

  updateEndpoints(hosts: readonly BalancerHost[]): void {
    const candidates = usable(hosts);
    this.picker = candidates.length === 0 ? failPicker : new PeakEwmaPicker(candidates, this.decayMs, this.defaultMs, this.deps);
  }
}

export function setup(): void {
  registerLoadBalancer(peakEwmaName, (policy, deps) =>
    new PeakEwmaLoadBalancer(policy.kind === 'peak-ewma' ? policy : { kind: 'peak-ewma', decayMs: defaultDecayMs, defaultRttMs }, deps));
}
