import type { HTTPRoute } from '../../resources/http-route.js';
import type { Resource } from '../../resources/kinds.js';
import type { NodeInfo } from '../../xds/node.js';
import { OUTBOUND_ROUTE_CONFIG } from './compile-listeners.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { routeResilienceFields } from './compile-resilience.js';
import { routeResilience } from './resilience-merge.js';
import { indexPolicies, routeKey, type PolicyIndex } from './resilience-policies.js';
import { httpRoutes, routeStatus } from './route-status.js';
import { compareStrings, durationFromMs, type XdsObject } from './xds-object.js';

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "1m", "2h" → milliseconds (the schema has checked the form). */
export function parseDurationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1]) * unitMs[m[2]];
}

interface RouteEntry {
  route: HTTPRoute;
  ruleIndex: number;
  matchIndex: number;
  exact: boolean;
  path: string;
}

function compareEntries(a: RouteEntry, b: RouteEntry): number {
  if (a.exact !== b.exact) return a.exact ? -1 : 1;
  if (!a.exact && a.path.length !== b.path.length) return b.path.length - a.path.length;
  return compareStrings(a.route.metadata.name, b.route.metadata.name)
    || compareStrings(a.route.metadata.namespace ?? 'default', b.route.metadata.namespace ?? 'default')
    || a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

/** The accepted HTTPRoutes attached to each service, keyed by `<service>.<namespace>`. */
export function routesByParent(resources: readonly Resource[], services: readonly MeshService[]): Map<string, HTTPRoute[]> {
  const out = new Map<string, HTTPRoute[]>();
  for (const route of httpRoutes(resources)) {
    if (!routeStatus(route, services).accepted) continue;
    const ns = route.metadata.namespace ?? 'default';
    for (const p of route.spec.parentRefs) {
      const key = serviceKey(p.name, p.namespace ?? ns);
      const list = out.get(key) ?? [];
      if (!list.includes(route)) list.push(route);
      out.set(key, list);
    }
  }
  return out;
}

/** How routes are compiled for one node: its policies, and whether it is a proxyless gRPC client. */
export interface RouteCompileOptions {
  policies?: PolicyIndex;
  /** grpc-js-xds NACKs typed_per_filter_config it does not know: it gets no Trellis extensions. */
  proxyless?: boolean;
}

/** The Envoy routes of one service: its HTTPRoutes' rules in match order, or one catch-all to the service itself. */
export function compileServiceRoutes(svc: MeshService, routes: readonly HTTPRoute[], opts: RouteCompileOptions = {}): XdsObject[] {
  if (routes.length === 0) {
    const route: XdsObject = { name: svc.key, match: { prefix: '/' }, route: { cluster: svc.key } };
    return [opts.proxyless ? route : withResilience(route, routeResilience([opts.policies?.services.get(svc.key)]))];
  }
  const entries: RouteEntry[] = [];
  for (const route of routes) {
    route.spec.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((m, matchIndex) => {
        const path = m.path ?? { type: 'PathPrefix', value: '/' };
        entries.push({ route, ruleIndex, matchIndex, exact: path.type === 'Exact', path: path.value });
      });
    });
  }
  entries.sort(compareEntries);
  return entries.map((e) => compileRule(e, svc, opts));
}

function withResilience(route: XdsObject, r: ReturnType<typeof routeResilience>): XdsObject {
  const { action, perFilter } = routeResilienceFields(r);
  const out: XdsObject = { ...route, route: { ...(route.route as XdsObject), ...action } };
  if (Object.keys(perFilter).length) out.typed_per_filter_config = { ...(route.typed_per_filter_config as XdsObject | undefined), ...perFilter };
  return out;
}

function compileRule(e: RouteEntry, parent: MeshService, opts: RouteCompileOptions): XdsObject {
  const rule = e.route.spec.rules[e.ruleIndex];
  const ns = e.route.metadata.namespace ?? 'default';
  const clusters = rule.backendRefs.map((b) => ({ name: serviceKey(b.name, b.namespace ?? ns), weight: b.weight }));
  const action: XdsObject = clusters.length === 1
    ? { cluster: clusters[0].name }
    : { weighted_clusters: { clusters: clusters.map((c) => ({ name: c.name, weight: { value: c.weight } })) } };
  if (opts.proxyless && rule.timeouts?.request) action.timeout = durationFromMs(parseDurationMs(rule.timeouts.request));
  let out: XdsObject = {
    name: `${e.route.metadata.name}.${e.ruleIndex}`,
    match: e.exact ? { path: e.path } : { prefix: e.path },
    route: action,
  };
  const extensions = (rule.filters ?? []).filter((f) => f.type === 'ExtensionRef');
  if (extensions.length) {
    const perFilter: Record<string, unknown> = {};
    for (const f of extensions) {
      // The extension's settings live in the named resource, not in the Any: the type tells the
      // sidecar which extension to run, and one it does not know makes it NACK.
      perFilter[`trellis.extension/${f.extensionRef.name}`] = {
        type_url: `type.googleapis.com/${f.extensionRef.group}.${f.extensionRef.kind}`,
        value: new Uint8Array(0),
      };
    }
    out.typed_per_filter_config = perFilter;
  }
  if (!opts.proxyless) {
    // the policy of the Service the client called, not of the backends: the route belongs to it
    const p = opts.policies;
    out = withResilience(out, routeResilience([
      p?.services.get(parent.key),
      p?.routes.get(routeKey(ns, e.route.metadata.name)),
      rule.name ? p?.routes.get(routeKey(ns, e.route.metadata.name, rule.name)) : undefined,
    ], rule));
  }
  return out;
}

/**
 * Host names a service answers to. The bare name is only given to services of the node's own
 * namespace: as in Kubernetes DNS it means "this namespace", and two virtual hosts with the
 * same domain would make the route configuration invalid.
 */
export function serviceDomains(svc: MeshService, node: NodeInfo): string[] {
  const qualified = [`${svc.key}`, `${svc.key}.svc`, `${svc.key}.svc.cluster.local`];
  return svc.namespace === node.namespace ? [svc.name, ...qualified] : qualified;
}

/** The `outbound` RouteConfiguration of one node. */
export function compileOutboundRoutes(services: readonly MeshService[], resources: readonly Resource[], node: NodeInfo, policies?: PolicyIndex): XdsObject {
  const attached = routesByParent(resources, services);
  const opts: RouteCompileOptions = { policies: policies ?? indexPolicies(resources, services) };
  const virtualHosts: XdsObject[] = services.map((svc) => ({
    name: svc.key,
    domains: serviceDomains(svc, node),
    routes: compileServiceRoutes(svc, attached.get(svc.key) ?? [], opts),
  }));
  if (node.ingressFor) {
    const target = services.find((s) => s.key === serviceKey(node.ingressFor!, node.namespace));
    if (target) {
      virtualHosts.push({ name: 'ingress', domains: ['*'], routes: compileServiceRoutes(target, attached.get(target.key) ?? [], opts) });
    }
  }
  return { name: OUTBOUND_ROUTE_CONFIG, virtual_hosts: virtualHosts };
}
