// The balancer interface and its registry, in the shape of grpc-js's load-balancer.ts: a
// balancer receives the cluster's pickable hosts and hands out an immutable Picker; a new picker
// replaces the old one on every change, so a pick never sees a half-updated host list.
//
// A host is the cluster's long-lived per-endpoint state (in-flight count, RTT estimate). It is
// itself the PickComplete result, so a pick returns an existing object and allocates nothing.
// The cluster hands a balancer only the hosts that may be picked now (healthy in EDS, weight > 0,
// not ejected by outlier detection, not busy with a probation probe); balancers still drop
// EDS-unhealthy ones themselves so they are safe on their own.
import type { EndpointConfig, LbPolicy } from '../../config/proxy-config.js';
import { errors, type ProxyError } from '../../errors.js';

/** The state a balancer reads from a host; the cluster keeps it current. */
export interface BalancerHost {
  readonly kind: 'complete';
  readonly endpoint: EndpointConfig;
  /** Attempts started on this host and not ended yet. */
  readonly inFlight: number;
  /** Peak-EWMA RTT estimate in ms, valid when hasRtt (see load-balancer-peak-ewma.ts). */
  readonly rttMs: number;
  /** Clock reading (ms) when rttMs was last updated. */
  readonly rttStampMs: number;
  readonly hasRtt: boolean;
}

export type PickComplete = BalancerHost;

export interface PickFail {
  readonly kind: 'fail';
  readonly error: ProxyError;
}

export type PickResult = PickComplete | PickFail;

export interface Picker {
  pick(): PickResult;
}

export interface LoadBalancer {
  readonly name: string;
  updateEndpoints(hosts: readonly BalancerHost[]): void;
  /** The current picker; replaced (never mutated) when hosts change. */
  readonly picker: Picker;
}

/** What every balancer may use besides its policy: injected so tests control time and chance. */
export interface LoadBalancerDeps {
  /** Monotonic clock in ms. */
  now: () => number;
  /** Uniform in [0, 1). */
  random: () => number;
}

export type LoadBalancerFactory = (policy: LbPolicy, deps: LoadBalancerDeps) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>();

export function registerLoadBalancer(name: string, factory: LoadBalancerFactory): void {
  registry.set(name, factory);
}

export const defaultDeps: LoadBalancerDeps = Object.freeze({ now: () => performance.now(), random: Math.random });

/** Throws at config time (not on the request path) when the policy is unknown. */
export function createLoadBalancer(policy: LbPolicy | string, deps: LoadBalancerDeps = defaultDeps): LoadBalancer {
  const p = typeof policy === 'string' ? defaultPolicy(policy) : policy;
  const factory = registry.get(p.kind);
  if (!factory) throw new Error(`unknown load balancer policy "${p.kind}"`);
  return factory(p, deps);
}

function defaultPolicy(kind: string): LbPolicy {
  if (kind === 'least-request') return { kind, choiceCount: 2 };
  if (kind === 'peak-ewma') return { kind, decayMs: 10_000, defaultRttMs: 30 };
  return { kind } as LbPolicy;
}

export function isLoadBalancerRegistered(name: string): boolean {
  return registry.has(name);
}

/** Hosts a balancer may ever pick: EDS says healthy and the weight is positive. */
export function usable(hosts: readonly BalancerHost[]): BalancerHost[] {
  return hosts.filter((h) => h.endpoint.healthy && h.endpoint.weight > 0);
}

const noHealthy: PickFail = Object.freeze({ kind: 'fail', error: errors.noHealthyUpstream });

/** Shared picker for an empty or all-unavailable cluster. */
export const failPicker: Picker = Object.freeze({ pick: () => noHealthy });
