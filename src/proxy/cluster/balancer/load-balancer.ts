// The balancer interface and its registry, in the shape of grpc-js's load-balancer.ts: a
// balancer receives the cluster's endpoints and hands out an immutable Picker; a new picker
// replaces the old one on every change, so a pick never sees a half-updated endpoint list.
import type { EndpointConfig } from '../../config/proxy-config.js';
import { errors, type ProxyError } from '../../errors.js';

export interface PickComplete {
  readonly kind: 'complete';
  readonly endpoint: EndpointConfig;
}

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
  updateEndpoints(endpoints: EndpointConfig[]): void;
  /** The current picker; replaced (never mutated) when endpoints change. */
  readonly picker: Picker;
}

export type LoadBalancerFactory = () => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>();

export function registerLoadBalancer(name: string, factory: LoadBalancerFactory): void {
  registry.set(name, factory);
}

/** Throws at config time (not on the request path) when the policy is unknown. */
export function createLoadBalancer(name: string): LoadBalancer {
  const factory = registry.get(name);
  if (!factory) throw new Error(`unknown load balancer policy "${name}"`);
  return factory();
}

export function isLoadBalancerRegistered(name: string): boolean {
  return registry.has(name);
}

const noHealthy: PickFail = Object.freeze({ kind: 'fail', error: errors.noHealthyUpstream });

/** Shared picker for an empty or all-unhealthy cluster. */
export const failPicker: Picker = Object.freeze({ pick: () => noHealthy });
