// GRPCRoute matches → Envoy RouteMatch (docs/xds.md, "GRPCRoute"). A gRPC call is a POST to
// /<service>/<method> with content-type application/grpc[+codec]: an exact service and method
// become an exact path, a service alone a "/<service>/" prefix, anything else one RE2 path
// pattern; every match also requires the gRPC content type, so a GRPCRoute never takes plain
// HTTP requests of the same Service (those fall through to its HTTPRoutes).
import { grpcPathRegex, type GRPCRoute, type GRPCRouteMatch } from '../../resources/grpc-route.js';
import { compareStrings, type XdsObject } from './xds-object.js';

export interface GrpcRouteEntry {
  route: GRPCRoute;
  ruleIndex: number;
  matchIndex: number;
  match: GRPCRouteMatch;
}

/**
 * The gRPC content types, as Envoy recognises a gRPC request (application/grpc, or followed by
 * "+" or ";"); grpc-web is not gRPC here. Proxyless gRPC clients read content-type as application/grpc.
 */
export const grpcContentTypeMatch: XdsObject = { name: 'content-type', string_match: { safe_regex: { regex: 'application/grpc(?:|[+;].*)' } } };

/** Exact service/method matches, then regular expressions, then matches without a method. */
const typeRank = (m: GRPCRouteMatch): number => (m.method === undefined ? 2 : m.method.type === 'Exact' ? 0 : 1);

function createdAt(route: GRPCRoute): string {
  return (route.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

/**
 * Gateway API GRPCRoute precedence: the most characters in the matching service, then in the
 * method, then the most header matches; then the oldest route, then namespace/name, then rule
 * and match order. Hostnames do not narrow a mesh route, so they never decide. Regular
 * expressions (implementation-specific in the API) come after every Exact match, as an
 * HTTPRoute's come after its prefixes, and are ordered among themselves by pattern length.
 */
export function compareGrpcEntries(a: GrpcRouteEntry, b: GrpcRouteEntry): number {
  const am = a.match.method;
  const bm = b.match.method;
  return typeRank(a.match) - typeRank(b.match)
    || (bm?.service?.length ?? 0) - (am?.service?.length ?? 0)
    || (bm?.method?.length ?? 0) - (am?.method?.length ?? 0)
    || (b.match.headers?.length ?? 0) - (a.match.headers?.length ?? 0)
    || compareStrings(createdAt(a.route), createdAt(b.route))
    || compareStrings(a.route.metadata.namespace ?? 'default', b.route.metadata.namespace ?? 'default')
    || compareStrings(a.route.metadata.name, b.route.metadata.name)
    || a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

/** Every match of these routes, in precedence order. */
export function grpcRouteEntries(routes: readonly GRPCRoute[]): GrpcRouteEntry[] {
  const entries: GrpcRouteEntry[] = [];
  for (const route of routes) {
    route.spec.rules.forEach((rule, ruleIndex) => {
      rule.matches.forEach((match, matchIndex) => entries.push({ route, ruleIndex, matchIndex, match }));
    });
  }
  return entries.sort(compareGrpcEntries);
}

/** Envoy route name of a GRPCRoute rule: prefixed, since an HTTPRoute may have the same name. */
export function grpcRouteName(route: GRPCRoute, ruleIndex: number): string {
  return `grpc:${route.metadata.name}.${ruleIndex}`;
}

export function compileGrpcMatch(m: GRPCRouteMatch): XdsObject {
  const out: XdsObject = {};
  const method = m.method;
  if (!method) out.prefix = '/';
  else if (method.type === 'Exact' && method.service !== undefined && method.method !== undefined) out.path = `/${method.service}/${method.method}`;
  // the trailing "/" keeps the service whole: "/pkg.Foo/" does not match "/pkg.FooBar/Get"
  else if (method.type === 'Exact' && method.service !== undefined) out.prefix = `/${method.service}/`;
  // an Exact method name has only [A-Za-z0-9_]: nothing to escape
  else out.safe_regex = { regex: grpcPathRegex(method.service, method.method) };
  out.headers = [grpcContentTypeMatch, ...(m.headers ?? []).map((h) => ({
    name: h.name.toLowerCase(),
    string_match: h.type === 'Exact' ? { exact: h.value } : { safe_regex: { regex: h.value } },
  }))];
  return out;
}
