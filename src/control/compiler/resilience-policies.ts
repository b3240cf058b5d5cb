import type { HTTPRoute } from '../../resources/http-route.js';
import type { Resource } from '../../resources/kinds.js';
import type { ResiliencePolicy } from '../../resources/resilience-policy.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { compareStrings } from './xds-object.js';

export type PolicyStatus =
  | { accepted: true }
  | { accepted: false; reason: 'Conflicted' | 'TargetNotFound'; message: string };

/** The policy in force for each target, and why every other policy is not. */
export interface PolicyIndex {
  /** by `<service>.<namespace>` */
  services: Map<string, ResiliencePolicy>;
  /** by `<namespace>/<route>` (the whole route) and `<namespace>/<route>/<rule name>` (one rule) */
  routes: Map<string, ResiliencePolicy>;
  status: Map<ResiliencePolicy, PolicyStatus>;
}

export function resiliencePolicyList(resources: readonly Resource[]): ResiliencePolicy[] {
  return resources.filter((r): r is ResiliencePolicy => r.kind === 'ResiliencePolicy');
}

function created(p: ResiliencePolicy): string {
  return (p.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

export function policyTarget(p: ResiliencePolicy): string {
  const ns = p.metadata.namespace ?? 'default';
  const t = p.spec.targetRef;
  if (t.kind === 'Service') return `Service ${serviceKey(t.name, ns)}`;
  return `HTTPRoute ${ns}/${t.name}${t.sectionName ? ` rule ${t.sectionName}` : ''}`;
}

export function routeKey(namespace: string, name: string, ruleName?: string): string {
  return ruleName ? `${namespace}/${name}/${ruleName}` : `${namespace}/${name}`;
}

/**
 * Which policy governs each target. Two policies for one target conflict: the older one (by
 * creation time, then namespace and name, so every control plane decides the same) wins as a
 * whole and the newer is not applied at all, as Gateway API policy attachment resolves conflicts.
 */
export function indexPolicies(resources: readonly Resource[], services: readonly MeshService[]): PolicyIndex {
  const policies = resiliencePolicyList(resources).sort((a, b) => compareStrings(created(a), created(b))
    || compareStrings(a.metadata.namespace ?? 'default', b.metadata.namespace ?? 'default') || compareStrings(a.metadata.name, b.metadata.name));
  const index: PolicyIndex = { services: new Map(), routes: new Map(), status: new Map() };
  const known = new Set(services.map((s) => s.key));
  const routes = new Map<string, HTTPRoute>();
  for (const r of resources) if (r.kind === 'HTTPRoute') routes.set(routeKey(r.metadata.namespace ?? 'default', r.metadata.name), r);
  for (const p of policies) {
    const ns = p.metadata.namespace ?? 'default';
    const t = p.spec.targetRef;
    const [map, key] = t.kind === 'Service'
      ? [index.services, serviceKey(t.name, ns)]
      : [index.routes, routeKey(ns, t.name, t.sectionName)];
    const holder = map.get(key);
    if (holder) {
      index.status.set(p, {
        accepted: false, reason: 'Conflicted',
        message: `ResiliencePolicy ${holder.metadata.namespace ?? 'default'}/${holder.metadata.name} already targets ${policyTarget(p)} and is older; this policy is not applied`,
      });
      continue;
    }
    map.set(key, p);
    index.status.set(p, targetStatus(p, known, routes));
  }
  return index;
}

// A policy whose target does not exist yet still holds it: it applies as soon as the target appears.
function targetStatus(p: ResiliencePolicy, services: Set<string>, routes: Map<string, HTTPRoute>): PolicyStatus {
  const ns = p.metadata.namespace ?? 'default';
  const t = p.spec.targetRef;
  if (t.kind === 'Service') {
    return services.has(serviceKey(t.name, ns)) ? { accepted: true } : { accepted: false, reason: 'TargetNotFound', message: `Service ${serviceKey(t.name, ns)} does not exist` };
  }
  const route = routes.get(routeKey(ns, t.name));
  if (!route) return { accepted: false, reason: 'TargetNotFound', message: `HTTPRoute ${ns}/${t.name} does not exist` };
  if (t.sectionName && !route.spec.rules.some((r) => r.name === t.sectionName)) {
    return { accepted: false, reason: 'TargetNotFound', message: `HTTPRoute ${ns}/${t.name} has no rule named ${t.sectionName}` };
  }
  return { accepted: true };
}
