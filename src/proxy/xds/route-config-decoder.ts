// RouteConfiguration (RDS, or inline in a listener's HttpConnectionManager) → RouteTable.
import type { FaultPolicy, PathMatch, RetryOn, RetryPolicy, Route, RouteTable, VirtualHost, WeightedCluster } from '../config/proxy-config.js';
import { unpackAny, type AnyMessage } from '../../xds/any.js';
import { extensionTypeUrls, faultFilterName, trellisStructs } from '../../xds/trellis-extensions.js';
import { checkPerFilterConfig, durationMs, findUnknownTypedExtension, fractionalPercent, structNumber, trellisStruct, wrapped } from './xds-decode-fields.js';
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
  const { [trellisStructs.retryOptions.name]: retryOptions, [faultFilterName]: faultConfig, ...otherFilters } = (route.typed_per_filter_config ?? {}) as ProtoObject;
  const perFilter = checkPerFilterConfig(otherFilters);
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
  const out: Route = { name: typeof route.name === 'string' ? route.name : '', match: match.value, clusters, timeoutMs };
  if (action.retry_policy) {
    const retry = decodeRetryPolicy(action.retry_policy, retryOptions);
    if (!retry.ok) return retry;
    out.retry = retry.value;
  } else if (retryOptions) {
    return refused(`typed_per_filter_config["${trellisStructs.retryOptions.name}"] needs route.retry_policy`);
  }
  if (faultConfig) {
    const fault = decodeFault(faultConfig);
    if (!fault.ok) return refused(`typed_per_filter_config["${faultFilterName}"]: ${fault.error}`);
    out.fault = fault.value;
  }
  return decoded(out);
}

const retryOnValues: ReadonlySet<string> = new Set<RetryOn>(['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-codes']);
const unsupportedRetryFields = [
  'retry_priority', 'retry_host_predicate', 'retry_options_predicates', 'retriable_headers', 'retriable_request_headers',
  'rate_limited_retry_back_off', 'per_try_idle_timeout',
];

// Envoy's defaults: one retry, 25 ms backoff base, a cap of ten times the base
function decodeRetryPolicy(rp: ProtoObject, options: ProtoObject | undefined): DecodeResult<RetryPolicy> {
  const where = 'route.retry_policy';
  for (const k of unsupportedRetryFields) {
    const v = rp[k];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) return refused(`${where}.${k} is not supported`);
  }
  const retryOn = String(rp.retry_on ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (retryOn.length === 0) return refused(`${where}.retry_on is required`);
  for (const cond of retryOn) {
    if (!retryOnValues.has(cond)) return refused(`${where}.retry_on "${cond}" is not supported (only ${[...retryOnValues].join(', ')})`);
  }
  const codes = ((rp.retriable_status_codes ?? []) as number[]).map(Number);
  for (const code of codes) if (!Number.isInteger(code) || code < 100 || code > 599) return refused(`${where}.retriable_status_codes: ${code} is not an HTTP status`);
  const perTryTimeoutMs = durationMs(rp.per_try_timeout) ?? 0;
  if (perTryTimeoutMs < 0) return refused(`${where}.per_try_timeout must not be negative`);
  const backoff = (rp.retry_back_off ?? {}) as ProtoObject;
  const backoffBaseMs = durationMs(backoff.base_interval) ?? 25;
  if (backoffBaseMs <= 0) return refused(`${where}.retry_back_off.base_interval must be positive`);
  const backoffMaxMs = durationMs(backoff.max_interval) ?? backoffBaseMs * 10;
  if (backoffMaxMs < backoffBaseMs) return refused(`${where}.retry_back_off.max_interval must not be shorter than base_interval`);
  let nonIdempotent = false;
  let maxBufferBytes = 64 * 1024;
  if (options) {
    const at = `typed_per_filter_config["${trellisStructs.retryOptions.name}"]`;
    const value = trellisStruct(options, trellisStructs.retryOptions.typeUrl);
    if (!value.ok) return refused(`${at}: ${value.error}`);
    const flag = value.value.non_idempotent;
    if (flag !== undefined && typeof flag !== 'boolean') return refused(`${at}: non_idempotent must be a boolean`);
    nonIdempotent = flag ?? false;
    const bytes = structNumber(value.value, 'max_buffer_bytes', maxBufferBytes, 0, 16 * 1024 * 1024, true);
    if (typeof bytes === 'string') return refused(`${at}: ${bytes}`);
    maxBufferBytes = bytes;
  }
  return decoded({
    maxRetries: wrapped(rp.num_retries) ?? 1,
    retryOn: retryOn as RetryOn[],
    retriableStatusCodes: codes,
    perTryTimeoutMs, backoffBaseMs, backoffMaxMs, nonIdempotent, maxBufferBytes,
  });
}

// Fields of HTTPFault the sidecar does not implement; each would change which requests a fault hits.
const unsupportedFaultFields = [
  'upstream_cluster', 'headers', 'downstream_nodes', 'max_active_faults', 'response_rate_limit', 'delay_percent_runtime',
  'abort_percent_runtime', 'delay_duration_runtime', 'abort_http_status_runtime', 'max_active_faults_runtime',
  'response_rate_limit_percent_runtime', 'abort_grpc_status_runtime', 'filter_metadata',
];

function decodeFault(any: ProtoObject): DecodeResult<FaultPolicy> {
  const url = (any as AnyMessage).type_url ?? '';
  if (url !== extensionTypeUrls.httpFault) return refused(`unknown typed extension ${url || '(empty type_url)'} (expected ${extensionTypeUrls.httpFault})`);
  let f: ProtoObject | undefined;
  try {
    f = unpackAny(any as AnyMessage);
  } catch (err) {
    return refused(`malformed HTTPFault: ${(err as Error).message}`);
  }
  if (!f) return refused(`cannot decode ${url}`);
  for (const k of unsupportedFaultFields) {
    const v = f[k];
    if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) return refused(`${k} is not supported`);
  }
  const out: FaultPolicy = {};
  if (f.delay) {
    if (f.delay.header_delay) return refused('delay.header_delay is not supported (only fixed_delay)');
    const delayMs = durationMs(f.delay.fixed_delay);
    if (delayMs === undefined || delayMs < 0) return refused('delay.fixed_delay is required');
    const percent = fractionalPercent(f.delay.percentage);
    if (typeof percent === 'string') return refused(`delay.${percent}`);
    out.delay = { percent, delayMs };
  }
  if (f.abort) {
    if (f.abort.grpc_status !== undefined || f.abort.header_abort) return refused('abort: only http_status is supported');
    const httpStatus = Number(f.abort.http_status ?? 0);
    if (!Number.isInteger(httpStatus) || httpStatus < 200 || httpStatus > 599) return refused('abort.http_status must be an HTTP status (200-599)');
    const percent = fractionalPercent(f.abort.percentage);
    if (typeof percent === 'string') return refused(`abort.${percent}`);
    out.abort = { percent, httpStatus };
  }
  return decoded(out);
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
