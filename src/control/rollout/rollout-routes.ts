// How a rollout writes its weights: the HTTPRoutes whose parentRefs name the service get, in
// every rule that sends to the old backend, the old and new backends at the step's weights (the
// new one added beside the old when missing). Rules that do not send to the old backend (say, a
// header match straight to the canary) and every other field are left exactly as stored, so
// whatever else the route says keeps working while the weights move.
import type { HTTPRoute } from '../../resources/http-route.js';
import type { StoredResource } from '../store/store.js';

type BackendRef = HTTPRoute['spec']['rules'][number]['backendRefs'][number];

export interface RouteTarget {
  service: string;
  namespace: string;
  from: string;
  to: string;
}

/** The stored routes whose parentRefs name the service. */
export function routesOfService(resources: readonly StoredResource[], service: string, namespace: string): HTTPRoute[] {
  return resources.filter((r): r is StoredResource & HTTPRoute => r.kind === 'HTTPRoute'
    && r.metadata.namespace === namespace
    && r.spec.parentRefs.some((p) => p.name === service && (p.namespace ?? r.metadata.namespace) === namespace));
}

/** The backend the service's traffic goes to now: the heaviest backend of its first route's first rule that is not `to`. */
export function currentBackend(routes: readonly HTTPRoute[], service: string, to: string): string {
  const refs = routes[0]?.spec.rules[0]?.backendRefs.filter((b) => b.name !== to) ?? [];
  let best: BackendRef | undefined;
  for (const b of refs) if (!best || (b.weight ?? 1) > (best.weight ?? 1)) best = b;
  return best?.name ?? service;
}

/** A route of the service with the weights set, or null when none of its rules sends to `from`. */
export function withWeights(route: HTTPRoute, t: RouteTarget, weights: { from: number; to: number }): HTTPRoute | null {
  const copy = stripBookkeeping(route);
  const ns = copy.metadata.namespace ?? 'default';
  const sameBackend = (b: BackendRef, name: string) => b.name === name && (b.namespace ?? ns) === t.namespace;
  let touched = false;
  for (const rule of copy.spec.rules) {
    const old = rule.backendRefs.find((b) => sameBackend(b, t.from));
    if (!old) continue;
    touched = true;
    old.weight = weights.from;
    const next = rule.backendRefs.find((b) => sameBackend(b, t.to));
    if (next) next.weight = weights.to;
    else rule.backendRefs.push(stripUndefined({ kind: 'Service' as const, name: t.to, namespace: old.namespace, port: old.port, weight: weights.to }));
  }
  return touched ? copy : null;
}

/** The route a rollout creates for a service that has none: everything to the two backends. */
export function createdRoute(name: string, t: RouteTarget, weights: { from: number; to: number }): HTTPRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: t.namespace, labels: { 'trellis.dev/rollout': t.service } },
    spec: {
      parentRefs: [{ kind: 'Service', name: t.service }],
      rules: [{
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [
          { kind: 'Service', name: t.from, weight: weights.from },
          { kind: 'Service', name: t.to, weight: weights.to },
        ],
      }],
    },
  } as HTTPRoute;
}

/** A DNS label for the created route: `<service>-rollout`, shortened to fit 63 characters. */
export function createdRouteName(service: string): string {
  return `${service.slice(0, 63 - '-rollout'.length).replace(/-+$/, '')}-rollout`;
}

function stripBookkeeping(route: HTTPRoute): HTTPRoute {
  const copy = structuredClone(route) as HTTPRoute & { metadata: { generation?: number; creationTimestamp?: string } };
  delete copy.metadata.generation;
  delete copy.metadata.creationTimestamp;
  return copy;
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
