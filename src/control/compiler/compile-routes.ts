import type { ExternalService } from '../../resources/external-service.js';
import type { GRPCRoute, GRPCRouteFilter } from '../../resources/grpc-route.js';
import type { HTTPRoute, HTTPRouteFilter, HTTPRouteMatch } from '../../resources/http-route.js';
import type { Resource } from '../../resources/kinds.js';
import type { NodeInfo } from '../../xds/node.js';
import { OUTBOUND_ROUTE_CONFIG } from './compile-listeners.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { routeResilienceFields } from './compile-resilience.js';
import { routeResilience } from './resilience-merge.js';
import { indexPolicies, routeKey, type PolicyIndex } from './resilience-policies.js';
import { externalServices, meshRoutes, routeStatuses, type MeshRoute } from './route-status.js';
import { compileGrpcMatch, grpcRouteEntries, grpcRouteName } from './compile-grpc-routes.js';
import { compileExternalVirtualHosts, externalAsService } from './compile-external-services.js';
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
  match: HTTPRouteMatch;
  pathType: 'Exact' | 'PathPrefix' | 'RegularExpression';
  path: string;
}

const pathRank = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;

/** When the route was created (the store sets it); routes built in tests without one sort first. */
function createdAt(route: HTTPRoute): string {
  return (route.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

/**
 * Gateway API precedence (HTTPRoute, "rules"): an exact path, then the longest prefix (Trellis
 * puts regular expressions after prefixes: their precedence is implementation-specific), then a
 * method match, then the most header matches, then the most query matches; among equals the
 * oldest route, then namespace/name, then rule and match order.
 */
export function compareEntries(a: RouteEntry, b: RouteEntry): number {
  return pathRank[a.pathType] - pathRank[b.pathType]
    || (a.pathType === 'PathPrefix' ? trimSlash(b.path).length - trimSlash(a.path).length : 0)
    || (a.match.method ? 0 : 1) - (b.match.method ? 0 : 1)
    || (b.match.headers?.length ?? 0) - (a.match.headers?.length ?? 0)
    || (b.match.queryParams?.length ?? 0) - (a.match.queryParams?.length ?? 0)
    || compareStrings(createdAt(a.route), createdAt(b.route))
    || compareStrings(a.route.metadata.namespace ?? 'default', b.route.metadata.namespace ?? 'default')
    || compareStrings(a.route.metadata.name, b.route.metadata.name)
    || a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

/** Gateway API ignores a trailing "/" of a PathPrefix; "/" itself stays. */
function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path;
}

/** The accepted HTTPRoutes and GRPCRoutes attached to each service, keyed by `<service>.<namespace>`. */
export function routesByParent(resources: readonly Resource[], services: readonly MeshService[]): Map<string, MeshRoute[]> {
  const out = new Map<string, MeshRoute[]>();
  const statuses = routeStatuses(resources, services);
  for (const route of meshRoutes(resources)) {
    if (!statuses.get(route)?.accepted) continue;
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

/**
 * The Envoy routes of one service: its GRPCRoutes' rules in GRPCRoute precedence (they take only
 * gRPC requests), then its HTTPRoutes' rules in HTTPRoute precedence; or, without routes, one
 * catch-all to the service itself. A request no rule takes gets 404 (no-route).
 */
export function compileServiceRoutes(svc: MeshService, routes: readonly MeshRoute[], opts: RouteCompileOptions = {}): XdsObject[] {
  if (routes.length === 0) {
    const route: XdsObject = { name: svc.key, match: { prefix: '/' }, route: { cluster: svc.key } };
    return [opts.proxyless ? route : withResilience(route, routeResilience([opts.policies?.services.get(svc.key)]))];
  }
  const grpc = grpcRouteEntries(routes.filter((r): r is GRPCRoute => r.kind === 'GRPCRoute'))
    .map((e) => compileRule(e.route, e.ruleIndex, grpcRouteName(e.route, e.ruleIndex), compileGrpcMatch(e.match), svc, opts));
  const entries: RouteEntry[] = [];
  for (const route of routes) {
    if (route.kind !== 'HTTPRoute') continue;
    route.spec.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((match, matchIndex) => {
        const path = match.path ?? { type: 'PathPrefix', value: '/' };
        entries.push({ route, ruleIndex, matchIndex, match, pathType: path.type, path: path.value });
      });
    });
  }
  entries.sort(compareEntries);
  return [...grpc, ...entries.map((e) => compileRule(e.route, e.ruleIndex, `${e.route.metadata.name}.${e.ruleIndex}`, compileMatch(e), svc, opts))];
}

function withResilience(route: XdsObject, r: ReturnType<typeof routeResilience>): XdsObject {
  const { action, perFilter } = routeResilienceFields(r);
  const out: XdsObject = { ...route, route: { ...(route.route as XdsObject), ...action } };
  if (Object.keys(perFilter).length) out.typed_per_filter_config = { ...(route.typed_per_filter_config as XdsObject | undefined), ...perFilter };
  return out;
}

/** One rule (reached through one of its matches) → one Envoy route; the filters GRPCRoute has mean the same as HTTPRoute's. */
function compileRule(route: MeshRoute, ruleIndex: number, name: string, match: XdsObject, parent: MeshService, opts: RouteCompileOptions): XdsObject {
  const rule = route.spec.rules[ruleIndex];
  const ns = route.metadata.namespace ?? 'default';
  const filters: readonly (HTTPRouteFilter | GRPCRouteFilter)[] = rule.filters ?? [];
  let out: XdsObject = { name, match };
  const redirect = filters.find((f) => f.type === 'RequestRedirect');
  if (redirect) {
    out.redirect = compileRedirect(redirect.requestRedirect);
  } else {
    const clusters = rule.backendRefs.map((b) => ({ name: serviceKey(b.name, b.namespace ?? ns), weight: b.weight }));
    const action: XdsObject = clusters.length === 1
      ? { cluster: clusters[0].name }
      : { weighted_clusters: { clusters: clusters.map((c) => ({ name: c.name, weight: { value: c.weight } })) } };
    if (opts.proxyless && rule.timeouts?.request) action.timeout = durationFromMs(parseDurationMs(rule.timeouts.request));
    for (const f of filters) {
      if (f.type === 'URLRewrite') Object.assign(action, compileRewrite(f.urlRewrite));
      else if (f.type === 'RequestMirror') {
        const m = f.requestMirror;
        const millionths = m.fraction ? Math.round((m.fraction.numerator * 1_000_000) / m.fraction.denominator) : (m.percent ?? 100) * 10_000;
        const list = (action.request_mirror_policies ??= []) as XdsObject[];
        list.push({
          cluster: serviceKey(m.backendRef.name, m.backendRef.namespace ?? ns),
          runtime_fraction: { default_value: { numerator: millionths, denominator: 'MILLION' } },
        });
      }
    }
    out.route = action;
  }
  for (const f of filters) {
    if (f.type === 'RequestHeaderModifier') Object.assign(out, headerFields('request', f.requestHeaderModifier));
    else if (f.type === 'ResponseHeaderModifier') Object.assign(out, headerFields('response', f.responseHeaderModifier));
  }
  const extensions = filters.filter((f) => f.type === 'ExtensionRef');
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
  if (!opts.proxyless && !redirect) {
    // the policy of the Service the client called, not of the backends: the route belongs to it
    const p = opts.policies;
    out = withResilience(out, routeResilience([
      p?.services.get(parent.key),
      p?.routes.get(routeKey(ns, route.metadata.name, undefined, route.kind)),
      rule.name ? p?.routes.get(routeKey(ns, route.metadata.name, rule.name, route.kind)) : undefined,
    ], route.kind === 'GRPCRoute' ? { kind: 'GRPCRoute', rule: route.spec.rules[ruleIndex] } : { kind: 'HTTPRoute', rule: route.spec.rules[ruleIndex] }));
  }
  return out;
}

function stringMatch(m: { type: 'Exact' | 'RegularExpression'; value: string }): XdsObject {
  return m.type === 'Exact' ? { exact: m.value } : { safe_regex: { regex: m.value } };
}

/** Gateway API match → Envoy RouteMatch; the method travels as a `:method` header match, as in Envoy Gateway. */
function compileMatch(e: RouteEntry): XdsObject {
  const out: XdsObject = {};
  if (e.pathType === 'Exact') out.path = e.path;
  else if (e.pathType === 'RegularExpression') out.safe_regex = { regex: e.path };
  else {
    const p = trimSlash(e.path);
    // Gateway API prefixes match whole path segments: Envoy's path_separated_prefix
    if (p === '/') out.prefix = '/';
    else out.path_separated_prefix = p;
  }
  const headers: XdsObject[] = [];
  if (e.match.method) headers.push({ name: ':method', string_match: { exact: e.match.method } });
  for (const h of e.match.headers ?? []) headers.push({ name: h.name.toLowerCase(), string_match: stringMatch(h) });
  if (headers.length) out.headers = headers;
  if (e.match.queryParams?.length) out.query_parameters = e.match.queryParams.map((q) => ({ name: q.name, string_match: stringMatch(q) }));
  return out;
}

type PathModifier = { type: 'ReplaceFullPath'; replaceFullPath: string } | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };

// ReplaceFullPath as Envoy Gateway sends it: a regex rewrite of the whole path
const wholePath = '^/.*$';

function compileRewrite(r: { hostname?: string; path?: PathModifier }): XdsObject {
  const out: XdsObject = {};
  if (r.hostname) out.host_rewrite_literal = r.hostname;
  if (r.path?.type === 'ReplaceFullPath') out.regex_rewrite = { pattern: { regex: wholePath }, substitution: r.path.replaceFullPath };
  else if (r.path?.type === 'ReplacePrefixMatch') out.prefix_rewrite = r.path.replacePrefixMatch;
  return out;
}

const redirectCodes: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function compileRedirect(r: { scheme?: string; hostname?: string; port?: number; path?: PathModifier; statusCode: number }): XdsObject {
  const out: XdsObject = {};
  if (r.scheme) out.scheme_redirect = r.scheme;
  if (r.hostname) out.host_redirect = r.hostname;
  if (r.port) out.port_redirect = r.port;
  if (r.path?.type === 'ReplaceFullPath') out.path_redirect = r.path.replaceFullPath;
  else if (r.path?.type === 'ReplacePrefixMatch') out.prefix_rewrite = r.path.replacePrefixMatch;
  // FOUND is proto3's zero value: left off the wire, and decoded as 302
  if (r.statusCode !== 302) out.response_code = redirectCodes[r.statusCode];
  return out;
}

function headerFields(direction: 'request' | 'response', m: { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] }): XdsObject {
  const toAdd = [
    ...(m.set ?? []).map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...(m.add ?? []).map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
  const out: XdsObject = {};
  if (toAdd.length) out[`${direction}_headers_to_add`] = toAdd;
  if (m.remove?.length) out[`${direction}_headers_to_remove`] = m.remove.map((n) => n.toLowerCase());
  return out;
}

/**
 * Host names a service answers to. The bare name is only given to services of the node's own
 * namespace: as in Kubernetes DNS it means "this namespace", and two virtual hosts with the
 * same domain would make the route configuration invalid.
 */
export function serviceDomains(svc: MeshService, node: NodeInfo): string[] {
  const qualified = [`${svc.key}`, `${svc.key}.svc`, `${svc.key}.svc.cluster.local`];
  const names = svc.namespace === node.namespace ? [svc.name, ...qualified] : qualified;
  return svc.address === undefined ? names : [...names, ...virtualIpDomains(svc, svc.address)];
}

/**
 * The virtual IP as a Host (`http://10.96.0.5:8080/`), and `ip:port` per HTTP port: as in Istio,
 * those name the destinations an intercepting sidecar routes by Host (intercept-listener.ts). The
 * bare address is there for every service, tcp-only ones included: it tells the sidecar which
 * service a connection to that address is for.
 */
function virtualIpDomains(svc: MeshService, address: string): string[] {
  const http = (svc.ports ?? []).filter((p) => p.protocol !== 'tcp');
  return [address, ...http.map((p) => `${address}:${p.port}`)];
}

/** What the `outbound` RouteConfiguration of a node is built from. */
export interface OutboundRouteInputs {
  /** The mesh services the node's config covers, in key order. */
  services: readonly MeshService[];
  /** The ExternalServices in force that it covers. */
  externals: readonly ExternalService[];
  attached: ReadonlyMap<string, MeshRoute[]>;
  opts: RouteCompileOptions;
  /** Makes (or finds already made) a service's virtual host; default: compiles it. */
  virtualHost?: (svc: MeshService) => XdsObject;
}

/** The `outbound` RouteConfiguration of one node. */
export function compileOutboundRoutes(services: readonly MeshService[], resources: readonly Resource[], node: NodeInfo, policies?: PolicyIndex): XdsObject {
  return buildOutboundRoutes({
    services, externals: externalServices(resources, services), attached: routesByParent(resources, services),
    opts: { policies: policies ?? indexPolicies(resources, services) },
  }, node);
}

/** The virtual host of a mesh service as seen from `node` (its namespace decides the bare name). */
export function compileVirtualHost(svc: MeshService, node: NodeInfo, attached: ReadonlyMap<string, MeshRoute[]>, opts: RouteCompileOptions): XdsObject {
  return { name: svc.key, domains: serviceDomains(svc, node), routes: compileServiceRoutes(svc, attached.get(svc.key) ?? [], opts) };
}

export function buildOutboundRoutes(inputs: OutboundRouteInputs, node: NodeInfo): XdsObject {
  const { services, attached, opts } = inputs;
  const virtualHost = inputs.virtualHost ?? ((svc: MeshService) => compileVirtualHost(svc, node, attached, opts));
  const virtualHosts: XdsObject[] = services.map(virtualHost);
  // External services after the mesh's: a host name a mesh service already answers to stays the mesh's
  const taken = new Set(virtualHosts.flatMap((v) => v.domains as string[]));
  for (const ext of inputs.externals) {
    for (const vh of compileExternalVirtualHosts(ext, attached.get(externalAsService(ext).key) ?? [], opts)) {
      vh.domains = (vh.domains as string[]).filter((d) => !taken.has(d));
      if ((vh.domains as string[]).length) virtualHosts.push(vh);
    }
  }
  if (node.ingressFor) {
    const target = services.find((s) => s.key === serviceKey(node.ingressFor!, node.namespace));
    if (target) {
      virtualHosts.push({ name: 'ingress', domains: ['*'], routes: compileServiceRoutes(target, attached.get(target.key) ?? [], opts) });
    }
  }
  return { name: OUTBOUND_ROUTE_CONFIG, virtual_hosts: virtualHosts };
}
