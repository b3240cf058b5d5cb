import type { HTTPRoute } from '../../resources/http-route.js';
import type { Resource } from '../../resources/kinds.js';
import { serviceKey, type MeshService } from './mesh-services.js';

export type RouteStatus =
  | { accepted: true }
  | { accepted: false; reason: 'ParentServiceUnknown' | 'BackendServiceUnknown' | 'AllBackendWeightsZero'; message: string };

export function httpRoutes(resources: readonly Resource[]): HTTPRoute[] {
  return resources.filter((r): r is HTTPRoute => r.kind === 'HTTPRoute');
}

/**
 * Whether a route can be compiled. A route that is not accepted is left out of every snapshot
 * as a whole, so traffic keeps its previous path instead of going half to a service that is not there.
 */
export function routeStatus(route: HTTPRoute, services: readonly MeshService[]): RouteStatus {
  const known = new Set(services.map((s) => s.key));
  const ns = route.metadata.namespace ?? 'default';
  for (const p of route.spec.parentRefs) {
    const key = serviceKey(p.name, p.namespace ?? ns);
    if (!known.has(key)) return { accepted: false, reason: 'ParentServiceUnknown', message: `parent Service ${key} does not exist` };
  }
  for (const [i, rule] of route.spec.rules.entries()) {
    for (const b of rule.backendRefs) {
      const key = serviceKey(b.name, b.namespace ?? ns);
      if (!known.has(key)) return { accepted: false, reason: 'BackendServiceUnknown', message: `rules[${i}]: backend Service ${key} does not exist` };
    }
    if (rule.backendRefs.every((b) => b.weight === 0)) {
      return { accepted: false, reason: 'AllBackendWeightsZero', message: `rules[${i}]: every backendRef has weight 0` };
    }
  }
  return { accepted: true };
}
