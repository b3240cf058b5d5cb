// RouteConfiguration (RDS, or inline in a listener's HttpConnectionManager) → RouteTable.
import type { PathMatch, Route, RouteTable, VirtualHost, WeightedCluster } from '../config/proxy-config.js';
import { checkPerFilterConfig, durationMs, findUnknownTypedExtension } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export function decodeRouteConfiguration(rc: ProtoObject): DecodeResult<RouteTable> {
  const name = typeof rc.name === 'string' ? rc.name : '';
  const where = `route configuration "${name}"`;
  if (!name) return refused('route configuration: name is required');
  if (rc.vhds) return refused(`${where}: vhds is not supported`);
  const perFilter = checkPerFilterConfig(rc.typed_per_filter_config);
  if (perFilter) return refused(`${where}: ${perFilter}`);
  const virtualHosts: VirtualHost[] = [];
  const vhNames = new Set<string>();
  for (const [i, vh] of ((rc.virtual_hosts ?? []) as ProtoObject[]).entries()) {
    const r = decodeVirtualHost(vh, i);
    if (!r.ok) return refused(`${where}: ${r.error}`);
    if (vhNames.has(r.value.name)) return refused(`${where}: duplicate virtual host name "${r.value.name}"`);
    vhNames.add(r.value.name);
    virtualHosts.push(r.value);
  }
  const unknown = findUnknownTypedExtension(rc);
  if (unknown) return refused(`${where}: ${unknown}`);
  return decoded({ name, virtualHosts });
}

function decodeVirtualHost(vh: ProtoObject, index: number): DecodeResult<VirtualHost> {
  const name = typeof vh.name === 'string' ? vh.name : '';
  if (!name) return refused(`virtual_hosts[${index}]: name is required`);
  const where = `virtual host "${name}"`;
  const domains = (vh.domains ?? []) as string[];
  if (domains.length === 0) return refused(`${where}: domains must not be empty`);
  for (const d of domains) {
    if (d === '' || (d.includes('*') && d !== '*' && !(d.startsWith('*') && d.indexOf('*', 1) < 0) && !(d.endsWith('*') && d.indexOf('*') === d.length - 1))) {
      return refused(`${where}: invalid domain "${d}" (a wildcard may only be "*", a prefix "*." or a suffix ".*")`);
    }
  }
  if (vh.matcher) return refused(`${where}: matcher is not supported`);
  const perFilter = checkPerFilterConfig(vh.typed_per_filter_config);
  if (perFilter) return refused(`${where}: ${perFilter}`);
  const routes: Route[] = [];
  for (const [i, route] of ((vh.routes ?? []) as ProtoObject[]).entries()) {
    const r = decodeRoute(route);
    const label = route.name ? `route "${route.name}"` : `routes[${i}]`;
    if (!r.ok) return refused(`${where}, ${label}: ${r.error}`);
    routes.push(r.value);
  }
  return decoded({ name, domains: domains.map((d) => d.toLowerCase()), routes });
}

function decodeRoute(route: ProtoObject): DecodeResult<Route> {
  const perFilter = checkPerFilterConfig(route.typed_per_filter_config);
  if (perFilter) return refused(perFilter);
  const match = decodeMatch(route.match);
  if (!match.ok) return match;
  if (!route.route) {
    const kind = ['redirect', 'direct_response', 'filter_action', 'non_forwarding_action'].find((k) => route[k]);
    return refused(kind ? `action ${kind} is not supported (only route)` : 'route action is required');
  }
  const action = route.route as ProtoObject;
  let clusters: WeightedCluster[];
  if (typeof action.cluster === 'string' && action.cluster !== '') {
    clusters = [{ cluster: action.cluster, weight: 1 }];
  } else if (action.weighted_clusters) {
    const wc = action.weighted_clusters as ProtoObject;
    clusters = [];
    for (const [i, c] of ((wc.clusters ?? []) as ProtoObject[]).entries()) {
      if (typeof c.name !== 'string' || c.name === '') return refused(`route.weighted_clusters.clusters[${i}].name is required`);
      if (c.cluster_header) return refused(`route.weighted_clusters.clusters[${i}].cluster_header is not supported`);
      const perCluster = checkPerFilterConfig(c.typed_per_filter_config);
      if (perCluster) return refused(`route.weighted_clusters.clusters[${i}]: ${perCluster}`);
      clusters.push({ cluster: c.name, weight: Number(c.weight?.value ?? 0) });
    }
    if (clusters.length === 0) return refused('route.weighted_clusters.clusters must not be empty');
    if (clusters.reduce((sum, c) => sum + c.weight, 0) <= 0) return refused('route.weighted_clusters weights sum to 0');
  } else {
    const kind = ['cluster_header', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin'].find((k) => action[k]);
    return refused(kind ? `route.${kind} is not supported` : 'route has neither cluster nor weighted_clusters');
  }
  const timeoutMs = durationMs(action.timeout) ?? 0;
  if (timeoutMs < 0) return refused('route.timeout must not be negative');
  return decoded({ name: typeof route.name === 'string' ? route.name : '', match: match.value, clusters, timeoutMs });
}

function decodeMatch(m: ProtoObject | undefined): DecodeResult<PathMatch> {
  if (!m) return refused('match is required');
  // A match the data path cannot evaluate must not be dropped silently: the route would then
  // catch requests it was never meant to.
  if (m.headers?.length) return refused('match.headers is not supported yet');
  if (m.query_parameters?.length) return refused('match.query_parameters is not supported yet');
  if (m.grpc) return refused('match.grpc is not supported yet');
  if (m.runtime_fraction) return refused('match.runtime_fraction is not supported');
  if (m.tls_context) return refused('match.tls_context is not supported');
  if (m.dynamic_metadata?.length) return refused('match.dynamic_metadata is not supported');
  if (m.case_sensitive && m.case_sensitive.value === false) return refused('match.case_sensitive=false is not supported');
  if (typeof m.prefix === 'string') return decoded({ kind: 'prefix', value: m.prefix });
  if (typeof m.path === 'string') {
    if (!m.path.startsWith('/')) return refused(`match.path "${m.path}" must start with "/"`);
    return decoded({ kind: 'exact', value: m.path });
  }
  if (m.safe_regex) return refused('match.safe_regex is not supported (regex matches are refused for now)');
  for (const k of ['connect_matcher', 'path_separated_prefix', 'path_match_policy']) if (m[k] !== undefined) return refused(`match.${k} is not supported`);
  return refused('match needs prefix or path');
}
