import type { ExternalService } from '../../resources/external-service.js';
import { checkRe2 } from '../../resources/http-route-regex.js';
import { grpcPathRegex, type GRPCRoute, type GRPCRouteMatch } from '../../resources/grpc-route.js';
import type { HTTPRoute, HTTPRouteMatch } from '../../resources/http-route.js';
import type { Resource } from '../../resources/kinds.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { compareStrings } from './xds-object.js';

export type RouteStatusReason =
  | 'ParentServiceUnknown' | 'BackendServiceUnknown' | 'AllBackendWeightsZero' | 'InvalidRegex' | 'Conflicted';

export type RouteStatus =
  | { accepted: true }
  | { accepted: false; reason: RouteStatusReason; message: string };

/** The route kinds that attach to a Service (GAMMA): their rules become the service's Envoy routes. */
export type MeshRoute = HTTPRoute | GRPCRoute;

export function httpRoutes(resources: readonly Resource[]): HTTPRoute[] {
  return resources.filter((r): r is HTTPRoute => r.kind === 'HTTPRoute');
}

export function meshRoutes(resources: readonly Resource[]): MeshRoute[] {
  return resources.filter((r): r is MeshRoute => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute');
}

/** The ExternalServices that are in force: a mesh service of the same name and namespace wins. */
export function externalServices(resources: readonly Resource[], services: readonly MeshService[]): ExternalService[] {
  const mesh = new Set(services.map((s) => s.key));
  return resources.filter((r): r is ExternalService => r.kind === 'ExternalService'
    && !mesh.has(serviceKey(r.metadata.name, r.metadata.namespace ?? 'default')));
}

type Ref = { kind?: string; name: string; namespace?: string };

/**
 * Whether a route can be compiled, on its own. A route that is not accepted is left out of every
 * snapshot as a whole, so traffic keeps its previous path instead of going half to a service
 * that is not there. `externals` are the keys of the ExternalServices in force.
 */
export function routeStatus(route: MeshRoute, services: readonly MeshService[], externals: ReadonlySet<string> = new Set()): RouteStatus {
  const known = new Set(services.map((s) => s.key));
  const ns = route.metadata.namespace ?? 'default';
  const exists = (ref: Ref) => (ref.kind === 'ExternalService' ? externals : known).has(serviceKey(ref.name, ref.namespace ?? ns));
  const label = (ref: Ref) => `${ref.kind === 'ExternalService' ? 'ExternalService' : 'Service'} ${serviceKey(ref.name, ref.namespace ?? ns)}`;
  for (const [i, p] of route.spec.parentRefs.entries()) {
    if (!exists(p)) return { accepted: false, reason: 'ParentServiceUnknown', message: `spec.parentRefs[${i}]: parent ${label(p)} does not exist` };
  }
  for (const [i, rule] of route.spec.rules.entries()) {
    for (const [j, b] of rule.backendRefs.entries()) {
      if (!exists(b)) return { accepted: false, reason: 'BackendServiceUnknown', message: `spec.rules[${i}].backendRefs[${j}]: backend ${label(b)} does not exist` };
    }
    for (const [j, f] of (rule.filters ?? []).entries()) {
      if (f.type === 'RequestMirror' && !exists(f.requestMirror.backendRef)) {
        return { accepted: false, reason: 'BackendServiceUnknown', message: `spec.rules[${i}].filters[${j}].requestMirror.backendRef: backend ${label(f.requestMirror.backendRef)} does not exist` };
      }
    }
    if (rule.backendRefs.length && rule.backendRefs.every((b) => b.weight === 0)) {
      return { accepted: false, reason: 'AllBackendWeightsZero', message: `spec.rules[${i}]: every backendRef has weight 0` };
    }
    // The schema checks regexes at apply time; this catches routes stored before it did.
    for (const [j, m] of rule.matches.entries()) {
      const bad = route.kind === 'GRPCRoute' ? invalidGrpcRegex(m as GRPCRouteMatch) : invalidRegex(m as HTTPRouteMatch);
      if (bad) return { accepted: false, reason: 'InvalidRegex', message: `spec.rules[${i}].matches[${j}].${bad}` };
    }
  }
  return { accepted: true };
}

function invalidRegex(m: HTTPRouteMatch): string | undefined {
  if (m.path?.type === 'RegularExpression') {
    const c = checkRe2(m.path.value);
    if (!c.ok) return `path.value: invalid regular expression: ${c.error}`;
  }
  for (const field of ['headers', 'queryParams'] as const) {
    for (const [k, h] of (m[field] ?? []).entries()) {
      if (h.type !== 'RegularExpression') continue;
      const c = checkRe2(h.value);
      if (!c.ok) return `${field}[${k}].value: invalid regular expression: ${c.error}`;
    }
  }
  return undefined;
}

function invalidGrpcRegex(m: GRPCRouteMatch): string | undefined {
  if (m.method?.type === 'RegularExpression') {
    const c = checkRe2(grpcPathRegex(m.method.service, m.method.method));
    if (!c.ok) return `method: invalid regular expression: ${c.error}`;
  }
  for (const [k, h] of (m.headers ?? []).entries()) {
    if (h.type !== 'RegularExpression') continue;
    const c = checkRe2(h.value);
    if (!c.ok) return `headers[${k}].value: invalid regular expression: ${c.error}`;
  }
  return undefined;
}

const headerPairs = (list: { type: string; name: string; value: string }[] | undefined, lower: boolean) =>
  (list ?? []).map((h) => `${lower ? h.name.toLowerCase() : h.name}\u0000${h.type}\u0000${h.value}`).sort().join('\u0001');

/** A GRPCRoute match as a comparable key; it never equals an HTTPRoute's (the kinds do not conflict). */
function grpcMatchKey(m: GRPCRouteMatch): string {
  const method = m.method;
  return ['grpc', method?.type ?? '', method?.service ?? '', method?.method ?? '', headerPairs(m.headers, true)].join('\u0002');
}

/** A match as a comparable key: two routes with the same key on one parent conflict. */
function matchKey(m: HTTPRouteMatch): string {
  const path = m.path ?? { type: 'PathPrefix', value: '/' };
  const value = path.type === 'PathPrefix' && path.value.length > 1 ? path.value.replace(/\/+$/, '') || '/' : path.value;
  return [path.type, value, m.method ?? '', headerPairs(m.headers, true), headerPairs(m.queryParams, false)].join('\u0002');
}

function createdAt(route: MeshRoute): string {
  return (route.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

function olderFirst(a: MeshRoute, b: MeshRoute): number {
  return compareStrings(createdAt(a), createdAt(b))
    || compareStrings(a.metadata.namespace ?? 'default', b.metadata.namespace ?? 'default')
    || compareStrings(a.metadata.name, b.metadata.name);
}

/**
 * The status of every HTTPRoute and GRPCRoute. Besides each route's own checks, two routes of one
 * kind that attach to one parent with an identical match conflict: as Gateway API resolves ties,
 * the older route (then namespace/name) keeps it, and the newer is not accepted (reason
 * Conflicted) as a whole, so a change never half-applies. An HTTPRoute and a GRPCRoute on one
 * parent do not conflict: the GRPCRoute's rules take gRPC requests first (docs/xds.md, "GRPCRoute").
 */
export function routeStatuses(resources: readonly Resource[], services: readonly MeshService[]): Map<MeshRoute, RouteStatus> {
  const externals = new Set(externalServices(resources, services).map((e) => serviceKey(e.metadata.name, e.metadata.namespace ?? 'default')));
  const out = new Map<MeshRoute, RouteStatus>();
  const claimed = new Map<string, { route: MeshRoute; where: string }>();
  for (const route of meshRoutes(resources).sort(olderFirst)) {
    const own = routeStatus(route, services, externals);
    if (!own.accepted) {
      out.set(route, own);
      continue;
    }
    const ns = route.metadata.namespace ?? 'default';
    const mine = new Map<string, string>();
    let conflict: RouteStatus | undefined;
    for (const p of route.spec.parentRefs) {
      const parent = serviceKey(p.name, p.namespace ?? ns);
      (route.spec.rules as readonly { matches: readonly (HTTPRouteMatch | GRPCRouteMatch)[] }[]).forEach((rule, i) => rule.matches.forEach((m, j) => {
        const key = `${parent}\u0003${route.kind === 'GRPCRoute' ? grpcMatchKey(m as GRPCRouteMatch) : matchKey(m as HTTPRouteMatch)}`;
        const other = claimed.get(key);
        if (other && other.route !== route && !conflict) {
          conflict = {
            accepted: false, reason: 'Conflicted',
            message: `spec.rules[${i}].matches[${j}]: the same match on ${parent} as ${other.route.metadata.namespace ?? 'default'}/${other.route.metadata.name} ${other.where}, which is older and wins`,
          };
        }
        if (!mine.has(key)) mine.set(key, `spec.rules[${i}].matches[${j}]`);
      }));
    }
    if (conflict) {
      out.set(route, conflict);
      continue;
    }
    for (const [key, where] of mine) claimed.set(key, { route, where });
    out.set(route, own);
  }
  return out;
}
