// RouteConfiguration (RDS, or inline in a listener's HttpConnectionManager) → RouteTable.
import type {
  ConnectRoute, FaultPolicy, HeaderMutation, MirrorPolicy, PathMatch, PathRewrite, RedirectAction, RetryOn, RetryPolicy, RewriteAction, Route, RouteTable, ValueMatch,
  VirtualHost, WeightedCluster,
} from '../config/proxy-config.js';
import { grpcRetryOnValues, grpcStatusesOf } from '../config/grpc-retry-on.js';
import { checkRe2 } from '../../resources/http-route-regex.js';
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { extensionTypeUrls, faultFilterName, trellisStructs } from '../../xds/trellis-extensions.js';
import { checkPerFilterConfig, durationMs, findUnknownTypedExtension, fractionalPercent, structNumber, trellisStruct, wrapped } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';
import { decodeConnectRoute, isConnectRoute } from './tcp-proxy-decoder.js';

export function decodeRouteConfiguration(rc: ProtoObject): DecodeResult<RouteTable> {
  const name = typeof rc.name === 'string' ? rc.name : '';
  const where = `route configuration "${name}"`;
  if (!name) return refused('route configuration: name is required');
  if (rc.vhds) return refused(`${where}: vhds is not supported`);
  const perFilter = checkPerFilterConfig(rc.typed_per_filter_config);
  if (perFilter) return refused(`${where}: ${perFilter}`);
  const virtualHosts: VirtualHost[] = [];
  const vhNames = new Set<string>();
  const connect: ConnectRoute[] = [];
  for (const [i, vh] of ((rc.virtual_hosts ?? []) as ProtoObject[]).entries()) {
    const r = decodeVirtualHost(vh, i, connect);
    if (!r.ok) return refused(`${where}: ${r.error}`);
    if (vhNames.has(r.value.name)) return refused(`${where}: duplicate virtual host name "${r.value.name}"`);
    vhNames.add(r.value.name);
    virtualHosts.push(r.value);
  }
  const unknown = findUnknownTypedExtension(rc);
  if (unknown) return refused(`${where}: ${unknown}`);
  return decoded(connect.length ? { name, virtualHosts, connect } : { name, virtualHosts });
}

function decodeVirtualHost(vh: ProtoObject, index: number, connect: ConnectRoute[]): DecodeResult<VirtualHost> {
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
    const label = route.name ? `route "${route.name}"` : `routes[${i}]`;
    if (isConnectRoute(route)) {
      // a TCP tunnel's end (docs/protocols.md): kept apart from the HTTP routes
      const c = decodeConnectRoute(route);
      if (!c.ok) return refused(`${where}, ${label}: ${c.error}`);
      connect.push(c.value);
      continue;
    }
    const r = decodeRoute(route);
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
  const name = typeof route.name === 'string' ? route.name : '';
  const headerFields = decodeHeaderMutations(route);
  if (!headerFields.ok) return headerFields;
  if (route.redirect) {
    if (retryOptions || faultConfig) return refused('a redirect route takes no retry or fault settings');
    const redirect = decodeRedirect(route.redirect, match.value.match);
    if (!redirect.ok) return refused(`redirect.${redirect.error}`);
    return decoded({ name, ...match.value, clusters: [], timeoutMs: 0, ...headerFields.value, redirect: redirect.value });
  }
  if (!route.route) {
    const kind = ['direct_response', 'filter_action', 'non_forwarding_action'].find((k) => route[k]);
    return refused(kind ? `action ${kind} is not supported (only route and redirect)` : 'route action is required');
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
      for (const k of ['request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'host_rewrite_literal']) {
        const v = c[k];
        if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) return refused(`route.weighted_clusters.clusters[${i}].${k} is not supported`);
      }
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
  const out: Route = { name, ...match.value, clusters, timeoutMs, ...headerFields.value };
  const rewrite = decodeRewrite(action, match.value.match);
  if (!rewrite.ok) return refused(`route.${rewrite.error}`);
  if (rewrite.value) out.rewrite = rewrite.value;
  const mirrors = decodeMirrors(action.request_mirror_policies);
  if (!mirrors.ok) return refused(`route.${mirrors.error}`);
  if (mirrors.value.length) out.mirrors = mirrors.value;
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

const retryOnValues: ReadonlySet<string> = new Set<RetryOn>(['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-codes', ...grpcRetryOnValues]);
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
  const out: RetryPolicy = {
    maxRetries: wrapped(rp.num_retries) ?? 1,
    retryOn: retryOn as RetryOn[],
    retriableStatusCodes: codes,
    perTryTimeoutMs, backoffBaseMs, backoffMaxMs, nonIdempotent, maxBufferBytes,
  };
  const grpcStatuses = grpcStatusesOf(out.retryOn);
  if (grpcStatuses.length) out.retryOnGrpcStatus = grpcStatuses;
  return decoded(out);
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

type DecodedMatch = Pick<Route, 'match' | 'method' | 'headers' | 'queryParams'>;

function decodeMatch(m: ProtoObject | undefined): DecodeResult<DecodedMatch> {
  if (!m) return refused('match is required');
  // A match the data path cannot evaluate must not be dropped silently: the route would then
  // catch requests it was never meant to.
  if (m.grpc) return refused('match.grpc is not supported yet');
  if (m.runtime_fraction) return refused('match.runtime_fraction is not supported');
  if (m.tls_context) return refused('match.tls_context is not supported');
  if (m.dynamic_metadata?.length) return refused('match.dynamic_metadata is not supported');
  if (m.case_sensitive && m.case_sensitive.value === false) return refused('match.case_sensitive=false is not supported');
  for (const k of ['connect_matcher', 'path_match_policy']) if (m[k] !== undefined) return refused(`match.${k} is not supported`);
  let path: PathMatch;
  if (typeof m.prefix === 'string') path = { kind: 'prefix', value: m.prefix };
  else if (typeof m.path === 'string') {
    if (!m.path.startsWith('/')) return refused(`match.path "${m.path}" must start with "/"`);
    path = { kind: 'exact', value: m.path };
  } else if (typeof m.path_separated_prefix === 'string') {
    const p = m.path_separated_prefix;
    // Envoy's rules for this field
    if (!p.startsWith('/') || (p.length > 1 && p.endsWith('/')) || /[?#]/.test(p)) return refused(`match.path_separated_prefix "${p}" must start with "/", not end with "/" and hold no "?" or "#"`);
    path = { kind: 'segment-prefix', value: p };
  } else if (m.safe_regex) {
    const r = regexOf(m.safe_regex, 'match.safe_regex');
    if (typeof r !== 'string') return r;
    path = { kind: 'regex', value: r };
  } else return refused('match needs prefix, path, path_separated_prefix or safe_regex');
  const out: DecodedMatch = { match: path };
  const headers: ValueMatch[] = [];
  for (const [i, h] of ((m.headers ?? []) as ProtoObject[]).entries()) {
    const at = `match.headers[${i}]`;
    const name = typeof h.name === 'string' ? h.name.toLowerCase() : '';
    if (!name) return refused(`${at}.name is required`);
    if (h.invert_match || h.treat_missing_header_as_empty) return refused(`${at}: invert_match and treat_missing_header_as_empty are not supported`);
    const v = valueMatch(h, at, true);
    if (!v.ok) return v;
    if (name === ':method') {
      if (v.value.kind !== 'exact' || out.method !== undefined) return refused(`${at}: ":method" needs one exact match`);
      out.method = v.value.value;
      continue;
    }
    if (name.startsWith(':')) return refused(`${at}: pseudo-header "${name}" is not supported (only :method)`);
    headers.push({ name, ...v.value });
  }
  if (headers.length) out.headers = headers;
  const query: ValueMatch[] = [];
  for (const [i, q] of ((m.query_parameters ?? []) as ProtoObject[]).entries()) {
    const at = `match.query_parameters[${i}]`;
    if (typeof q.name !== 'string' || q.name === '') return refused(`${at}.name is required`);
    const v = valueMatch(q, at, false);
    if (!v.ok) return v;
    query.push({ name: q.name, ...v.value });
  }
  if (query.length) out.queryParams = query;
  return decoded(out);
}

/** A RegexMatcher's pattern after the RE2 check, or the refusal. */
function regexOf(rm: ProtoObject, at: string): string | DecodeResult<never> {
  const regex = typeof rm.regex === 'string' ? rm.regex : '';
  const c = checkRe2(regex);
  if (!c.ok) return refused(`${at}.regex ${JSON.stringify(regex)}: ${c.error}`);
  return regex;
}

function valueMatch(h: ProtoObject, at: string, header: boolean): DecodeResult<{ kind: 'exact' | 'regex'; value: string }> {
  const unsupported = header ? ['range_match', 'present_match', 'prefix_match', 'suffix_match', 'contains_match'] : ['present_match'];
  for (const k of unsupported) if (h[k] !== undefined && h[k] !== false) return refused(`${at}.${k} is not supported`);
  // the deprecated header fields Envoy still reads
  if (header && typeof h.exact_match === 'string') return decoded({ kind: 'exact', value: h.exact_match });
  if (header && h.safe_regex_match) {
    const r = regexOf(h.safe_regex_match, `${at}.safe_regex_match`);
    return typeof r === 'string' ? decoded({ kind: 'regex', value: r }) : r;
  }
  const sm = h.string_match as ProtoObject | undefined;
  if (!sm) return refused(`${at} needs string_match`);
  if (sm.ignore_case) return refused(`${at}.string_match.ignore_case is not supported`);
  if (typeof sm.exact === 'string') return decoded({ kind: 'exact', value: sm.exact });
  if (sm.safe_regex) {
    const r = regexOf(sm.safe_regex, `${at}.string_match.safe_regex`);
    return typeof r === 'string' ? decoded({ kind: 'regex', value: r }) : r;
  }
  return refused(`${at}.string_match: only exact and safe_regex are supported`);
}

function decodeHeaderMutations(route: ProtoObject): DecodeResult<Pick<Route, 'requestHeaders' | 'responseHeaders'>> {
  const out: Pick<Route, 'requestHeaders' | 'responseHeaders'> = {};
  for (const dir of ['request', 'response'] as const) {
    const add = (route[`${dir}_headers_to_add`] ?? []) as ProtoObject[];
    const remove = (route[`${dir}_headers_to_remove`] ?? []) as string[];
    if (add.length === 0 && remove.length === 0) continue;
    const m: HeaderMutation = { set: [], add: [], remove: [] };
    for (const [i, o] of add.entries()) {
      const at = `${dir}_headers_to_add[${i}]`;
      const key = typeof o.header?.key === 'string' ? o.header.key.toLowerCase() : '';
      const value = typeof o.header?.value === 'string' ? o.header.value : '';
      if (!/^[a-z0-9!#$%&'*+\-.^_`|~]+$/.test(key)) return refused(`${at}.header.key ${JSON.stringify(key)} is not a header name`);
      if (/[\r\n\0]/.test(value)) return refused(`${at}.header.value must not hold CR, LF or NUL`);
      if (o.header?.raw_value?.length) return refused(`${at}.header.raw_value is not supported`);
      // append_action wins; without it, the deprecated append (true when absent) decides
      const action = o.append_action ?? (o.append && o.append.value === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
      if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') m.set.push([key, value]);
      else if (action === 'APPEND_IF_EXISTS_OR_ADD') m.add.push([key, value]);
      else return refused(`${at}.append_action ${action} is not supported`);
    }
    for (const n of remove) m.remove.push(String(n).toLowerCase());
    if (dir === 'request') out.requestHeaders = m;
    else out.responseHeaders = m;
  }
  return decoded(out);
}

const redirectCodes: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

function decodeRedirect(r: ProtoObject, match: PathMatch): DecodeResult<RedirectAction> {
  for (const k of ['regex_rewrite', 'strip_query']) if (r[k]) return refused(`${k} is not supported`);
  const statusCode = redirectCodes[r.response_code ?? 'FOUND'];
  if (!statusCode) return refused(`response_code ${r.response_code} is not supported`);
  const out: RedirectAction = { statusCode };
  if (r.https_redirect) out.scheme = 'https';
  else if (typeof r.scheme_redirect === 'string' && r.scheme_redirect) out.scheme = r.scheme_redirect.toLowerCase();
  if (out.scheme && out.scheme !== 'http' && out.scheme !== 'https') return refused(`scheme_redirect "${out.scheme}" is not supported`);
  if (typeof r.host_redirect === 'string' && r.host_redirect) out.host = r.host_redirect;
  if (r.port_redirect) out.port = Number(r.port_redirect);
  if (out.port !== undefined && (!Number.isInteger(out.port) || out.port < 1 || out.port > 65535)) return refused('port_redirect must be a port');
  if (typeof r.path_redirect === 'string' && r.path_redirect) out.path = { kind: 'full', value: r.path_redirect };
  else if (typeof r.prefix_rewrite === 'string' && r.prefix_rewrite) {
    const p = prefixRewrite(r.prefix_rewrite, match);
    if (typeof p === 'string') return refused(p);
    out.path = p;
  }
  return decoded(out);
}

function prefixRewrite(value: string, match: PathMatch): PathRewrite | string {
  if (match.kind !== 'prefix' && match.kind !== 'segment-prefix') return 'prefix_rewrite needs a prefix or path_separated_prefix match';
  if (!value.startsWith('/')) return `prefix_rewrite "${value}" must start with "/"`;
  return { kind: 'prefix', value };
}

function decodeRewrite(action: ProtoObject, match: PathMatch): DecodeResult<RewriteAction | undefined> {
  for (const k of ['path_rewrite_policy', 'host_rewrite_header', 'host_rewrite_path_regex']) if (action[k]) return refused(`${k} is not supported`);
  if (action.auto_host_rewrite?.value) return refused('auto_host_rewrite is not supported');
  const out: RewriteAction = {};
  if (typeof action.host_rewrite_literal === 'string' && action.host_rewrite_literal) {
    if (/[\s\0]/.test(action.host_rewrite_literal)) return refused('host_rewrite_literal must be a host name');
    out.host = action.host_rewrite_literal;
  }
  const prefix = typeof action.prefix_rewrite === 'string' && action.prefix_rewrite !== '' ? action.prefix_rewrite : undefined;
  if (prefix !== undefined && action.regex_rewrite) return refused('prefix_rewrite and regex_rewrite are exclusive');
  if (prefix !== undefined) {
    const p = prefixRewrite(prefix, match);
    if (typeof p === 'string') return refused(p);
    out.path = p;
  } else if (action.regex_rewrite) {
    const rr = action.regex_rewrite as ProtoObject;
    const pattern = regexOf(rr.pattern ?? {}, 'regex_rewrite.pattern');
    if (typeof pattern !== 'string') return pattern;
    const substitution = typeof rr.substitution === 'string' ? rr.substitution : '';
    // the whole path replaced by a constant: Gateway API's ReplaceFullPath
    out.path = pattern === '^/.*$' && !substitution.includes('\\') ? { kind: 'full', value: substitution } : { kind: 'regex', pattern, substitution };
  }
  return decoded(out.host === undefined && out.path === undefined ? undefined : out);
}

function decodeMirrors(list: ProtoObject[] | undefined): DecodeResult<MirrorPolicy[]> {
  const out: MirrorPolicy[] = [];
  for (const [i, m] of (list ?? []).entries()) {
    const at = `request_mirror_policies[${i}]`;
    if (typeof m.cluster !== 'string' || m.cluster === '') return refused(`${at}.cluster is required${m.cluster_header ? ' (cluster_header is not supported)' : ''}`);
    if (m.runtime_fraction?.runtime_key) return refused(`${at}.runtime_fraction.runtime_key is not supported`);
    let percent = 100;
    if (m.runtime_fraction) {
      const p = fractionalPercent(m.runtime_fraction.default_value);
      if (typeof p === 'string') return refused(`${at}.runtime_fraction.default_value: ${p}`);
      percent = p;
    }
    out.push({ cluster: m.cluster, percent });
  }
  return decoded(out);
}
