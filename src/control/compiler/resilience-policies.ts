import type { Resource } from '../../resources/kinds.js';
import type { ResiliencePolicy } from '../../resources/resilience-policy.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import type { MeshRoute } from './route-status.js';
import { compareStrings } from './xds-object.js';

export type PolicyStatus =
  | { accepted: true }
  | { accepted: false; reason: 'Conflicted' | 'TargetNotFound'; message: string };

/** The policy in force for each target, and why every other policy is not. */
export interface PolicyIndex {
  /** by `<service>.<namespace>` */
  services: Map<string, ResiliencePolicy>;
  /** by routeKey(): the whole route, or one of its rules by name */
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
  return `${t.kind} ${ns}/${t.name}${t.sectionName ? ` rule ${t.sectionName}` : ''}`;
}

/** `<namespace>/<route>[/<rule name>]` for an HTTPRoute; a GRPCRoute's key starts with `GRPCRoute:` (the kinds share names). */
export function routeKey(namespace: string, name: string, ruleName?: string, kind: MeshRoute['kind'] = 'HTTPRoute'): string {
  const key = ruleName ? `${namespace}/${name}/${ruleName}` : `${namespace}/${name}`;
  return kind === 'HTTPRoute' ? key : `${kind}:${key}`;
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
  const routes = new Map<string, MeshRoute>();
  for (const r of resources) if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') routes.set(routeKey(r.metadata.namespace ?? 'default', r.metadata.name, undefined, r.kind), r);
  for (const p of policies) {
    const ns = p.metadata.namespace ?? 'default';
    const t = p.spec.targetRef;
    const [map, key] = t.kind === 'Service'
      ? [index.services, serviceKey(t.name, ns)]
      : [index.routes, routeKey(ns, t.name, t.sectionName, t.kind)];
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
function targetStatus(p: ResiliencePolicy, services: Set<string>, routes: Map<string, MeshRoute>): PolicyStatus {
  const ns = p.metadata.namespace ?? 'default';
  const t = p.spec.targetRef;
  if (t.kind === 'Service') {
    return services.has(serviceKey(t.name, ns)) ? { accepted: true } : { accepted: false, reason: 'TargetNotFound', message: `Service ${serviceKey(t.name, ns)} does not exist` };
  }
  const route = routes.get(routeKey(ns, t.name, undefined, t.kind));
  if (!route) return { accepted: false, reason: 'TargetNotFound', message: `${t.kind} ${ns}/${t.name} does not exist` };
  if (t.sectionName && !(route.spec.rules as readonly { name?: string }[]).some((r) => r.name === t.sectionName)) {
    return { accepted: false, reason: 'TargetNotFound', message: `${t.kind} ${ns}/${t.name} has no rule named ${t.sectionName}` };
  }
  return { accepted: true };
}
