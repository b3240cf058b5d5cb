// Cluster (CDS) → ClusterConfig: EDS over ADS, STATIC with inline endpoints, or STRICT_DNS (inline
// endpoints whose host names the sidecar resolves), with the balancer,
// circuit breakers, outlier detection, idle timeout, requests per connection and retry budget (docs/xds.md, "Clusters" and
// "Resilience"). Absent fields take Envoy's defaults (Linkerd's for the retry budget).
import { defaultCircuitBreakers, defaultIdleTimeoutMs, defaultRetryBudget } from '../config/cluster-defaults.js';
import type { CircuitBreakers, ClusterConfig, DnsLookupFamily, LbPolicy, OutlierDetection, RetryBudget } from '../config/proxy-config.js';
import { trellisStructs } from '../../xds/trellis-extensions.js';
import { decodeEndpoints } from './cluster-load-assignment-decoder.js';
import { decodeUpstreamTls } from './cluster-security-decoder.js';
import { decodeUpstreamProtocol } from './cluster-protocol-decoder.js';
import { httpProtocolOptionsKey } from '../../xds/type-urls.js';
import { durationMs, findUnknownTypedExtension, structNumber, trellisStruct, wrapped } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

// Envoy's default when connect_timeout is absent.
const defaultConnectTimeoutMs = 5000;

export function decodeCluster(cluster: ProtoObject): DecodeResult<ClusterConfig> {
  const name = typeof cluster.name === 'string' ? cluster.name : '';
  if (!name) return refused('cluster: name is required');
  const r = decodeNamedCluster(name, cluster);
  return r.ok ? r : refused(`cluster "${name}": ${r.error}`);
}

function decodeNamedCluster(name: string, c: ProtoObject): DecodeResult<ClusterConfig> {
  if (c.cluster_type) return refused(`cluster_type ${c.cluster_type.name ?? ''} is not supported (only type EDS, STATIC or STRICT_DNS)`);
  // proto3 leaves a zero enum off the wire: absent means STATIC and ROUND_ROBIN.
  const type = c.type ?? 'STATIC';
  if (type !== 'EDS' && type !== 'STATIC' && type !== 'STRICT_DNS') return refused(`type ${type} is not supported (only EDS, STATIC or STRICT_DNS)`);
  const lbPolicy = decodeLbPolicy(c);
  if (!lbPolicy.ok) return lbPolicy;
  // the places that may hold Trellis extensions are checked by their decoders below
  const { load_balancing_policy: _lbp, typed_extension_protocol_options: _teo, transport_socket_matches: _tsm, ...rest } = c;
  const unknown = findUnknownTypedExtension(rest);
  if (unknown) return refused(unknown);
  const connectTimeoutMs = durationMs(c.connect_timeout) ?? defaultConnectTimeoutMs;
  if (connectTimeoutMs <= 0) return refused('connect_timeout must be positive');
  const circuitBreakers = decodeCircuitBreakers(c.circuit_breakers);
  if (!circuitBreakers.ok) return circuitBreakers;
  const outlier = decodeOutlierDetection(c.outlier_detection);
  if (!outlier.ok) return outlier;
  const retryBudget = decodeRetryBudget(c.typed_extension_protocol_options);
  if (!retryBudget.ok) return retryBudget;
  const protocol = decodeUpstreamProtocol(c.typed_extension_protocol_options);
  if (!protocol.ok) return protocol;
  const idleTimeoutMs = durationMs(c.common_http_protocol_options?.idle_timeout) ?? defaultIdleTimeoutMs;
  if (idleTimeoutMs < 0) return refused('common_http_protocol_options.idle_timeout must not be negative');
  // Envoy's deprecated cluster-level field still counts when the protocol options leave it out
  const maxRequestsPerConnection = wrapped(c.common_http_protocol_options?.max_requests_per_connection) ?? wrapped(c.max_requests_per_connection) ?? 0;
  const base: ClusterConfig = {
    name, connectTimeoutMs, idleTimeoutMs, lbPolicy: lbPolicy.value,
    circuitBreakers: circuitBreakers.value, retryBudget: retryBudget.value,
  };
  if (maxRequestsPerConnection > 0) base.maxRequestsPerConnection = maxRequestsPerConnection;
  if (outlier.value) base.outlierDetection = outlier.value;
  if (protocol.value.protocol !== 'http1') {
    base.upstreamProtocol = protocol.value.protocol;
    if (protocol.value.http2) base.http2 = protocol.value.http2;
  }
  const upstreamTls = decodeUpstreamTls(c);
  if (!upstreamTls.ok) return upstreamTls;
  if (upstreamTls.value) base.upstreamTls = upstreamTls.value;
  if (type === 'EDS') {
    const eds = (c.eds_cluster_config ?? {}) as ProtoObject;
    if (eds.eds_config && !eds.eds_config.ads) return refused('eds_cluster_config.eds_config must be ads');
    const serviceName = typeof eds.service_name === 'string' && eds.service_name !== '' ? eds.service_name : name;
    return decoded({ ...base, edsServiceName: serviceName });
  }
  if (!c.load_assignment) return refused(`a ${type} cluster needs load_assignment`);
  const endpoints = decodeEndpoints(c.load_assignment);
  if (!endpoints.ok) return refused(`load_assignment: ${endpoints.error}`);
  if (type === 'STATIC') return decoded({ ...base, staticEndpoints: endpoints.value });
  const refreshMs = durationMs(c.dns_refresh_rate) ?? defaultDnsRefreshMs;
  if (refreshMs <= 0) return refused('dns_refresh_rate must be positive');
  const family = dnsFamilies[c.dns_lookup_family ?? 'AUTO'];
  if (family === undefined) return refused(`dns_lookup_family ${String(c.dns_lookup_family)} is not supported`);
  return decoded({ ...base, dns: { targets: endpoints.value, refreshMs, family } });
}

// Envoy's default when dns_refresh_rate is absent.
const defaultDnsRefreshMs = 5000;

const dnsFamilies: Record<string, DnsLookupFamily | undefined> = {
  AUTO: 'auto', V4_ONLY: 'v4-only', V6_ONLY: 'v6-only', V4_PREFERRED: 'v4-preferred', ALL: 'all',
};

function decodeLbPolicy(c: ProtoObject): DecodeResult<LbPolicy> {
  if (c.load_balancing_policy) {
    // Envoy uses the first policy of the list that it supports, and then ignores lb_policy
    const policies = (c.load_balancing_policy.policies ?? []) as ProtoObject[];
    const seen: string[] = [];
    for (const [i, p] of policies.entries()) {
      const ext = p.typed_extension_config as ProtoObject | undefined;
      if (ext?.name !== trellisStructs.peakEwma.name) {
        seen.push(`${ext?.name ?? `policies[${i}]`} (${ext?.typed_config?.type_url ?? 'no typed_config'})`);
        continue;
      }
      const where = `load_balancing_policy.policies[${i}] (${trellisStructs.peakEwma.name})`;
      const value = trellisStruct(ext.typed_config, trellisStructs.peakEwma.typeUrl);
      if (!value.ok) return refused(`${where}: ${value.error}`);
      const decayMs = structNumber(value.value, 'decay_ms', 10_000, 1, 3_600_000);
      if (typeof decayMs === 'string') return refused(`${where}: ${decayMs}`);
      const defaultRttMs = structNumber(value.value, 'default_rtt_ms', 30, 0, 3_600_000);
      if (typeof defaultRttMs === 'string') return refused(`${where}: ${defaultRttMs}`);
      return decoded({ kind: 'peak-ewma', decayMs, defaultRttMs });
    }
    return refused(`load_balancing_policy holds no supported policy (only ${trellisStructs.peakEwma.name}); got ${seen.join(', ') || 'none'}`);
  }
  const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
  if (lbPolicy === 'ROUND_ROBIN') return decoded({ kind: 'round-robin' });
  if (lbPolicy === 'LEAST_REQUEST') {
    const cfg = (c.least_request_lb_config ?? {}) as ProtoObject;
    for (const k of ['active_request_bias', 'slow_start_config', 'locality_lb_config']) {
      if (cfg[k]) return refused(`least_request_lb_config.${k} is not supported`);
    }
    const choiceCount = wrapped(cfg.choice_count) ?? 2;
    if (choiceCount < 2) return refused('least_request_lb_config.choice_count must be at least 2');
    return decoded({ kind: 'least-request', choiceCount });
  }
  return refused(`lb_policy ${lbPolicy} is not supported (only ROUND_ROBIN, LEAST_REQUEST, or ${trellisStructs.peakEwma.name} in load_balancing_policy)`);
}

function decodeCircuitBreakers(cb: ProtoObject | undefined): DecodeResult<CircuitBreakers> {
  const out = { ...defaultCircuitBreakers };
  if (!cb) return decoded(out);
  if (cb.per_host_thresholds?.length) return refused('circuit_breakers.per_host_thresholds is not supported');
  // the sidecar has one priority: it honours the DEFAULT thresholds and has no HIGH-priority traffic
  const thresholds = ((cb.thresholds ?? []) as ProtoObject[]).filter((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
  if (thresholds.length > 1) return refused('circuit_breakers.thresholds holds more than one DEFAULT priority entry');
  const t = thresholds[0];
  if (!t) return decoded(out);
  if (t.retry_budget) return refused(`circuit_breakers.thresholds[].retry_budget is not supported (the retry budget travels in typed_extension_protocol_options["${trellisStructs.retryBudget.name}"])`);
  out.maxConnections = wrapped(t.max_connections) ?? out.maxConnections;
  out.maxPendingRequests = wrapped(t.max_pending_requests) ?? out.maxPendingRequests;
  out.maxRequests = wrapped(t.max_requests) ?? out.maxRequests;
  out.maxRetries = wrapped(t.max_retries) ?? out.maxRetries;
  return decoded(out);
}

// Envoy's defaults when outlier_detection is present but a field is not
const envoyOutlier = { consecutive: 5, intervalMs: 10_000, baseMs: 30_000, maxMs: 300_000, maxPercent: 10, minHosts: 5, volume: 100, stdev: 1900 };

function enforcing(v: ProtoObject | undefined, field: string, fallback: number): number | string {
  const e = wrapped(v) ?? fallback;
  // the sidecar either enforces a rule or not; a partial (probabilistic) enforcement is refused
  return e === 0 || e === 100 ? e : `outlier_detection.${field} must be 0 or 100, got ${e}`;
}

function decodeOutlierDetection(od: ProtoObject | undefined): DecodeResult<OutlierDetection | undefined> {
  if (!od) return decoded(undefined);
  if (od.split_external_local_origin_errors) return refused('outlier_detection.split_external_local_origin_errors is not supported (connection failures count as 5xx)');
  const failurePct = enforcing(od.enforcing_failure_percentage, 'enforcing_failure_percentage', 0);
  if (failurePct !== 0) return refused('outlier_detection: failure-percentage ejection is not supported (enforcing_failure_percentage must be 0)');
  const e5xx = enforcing(od.enforcing_consecutive_5xx, 'enforcing_consecutive_5xx', 100);
  if (typeof e5xx === 'string') return refused(e5xx);
  const consecutive = wrapped(od.consecutive_5xx) ?? envoyOutlier.consecutive;
  const eGateway = enforcing(od.enforcing_consecutive_gateway_failure, 'enforcing_consecutive_gateway_failure', 0);
  if (typeof eGateway === 'string') return refused(eGateway);
  const gateway = wrapped(od.consecutive_gateway_failure);
  if (eGateway === 100 && gateway !== undefined && gateway !== consecutive) {
    return refused('outlier_detection.consecutive_gateway_failure must equal consecutive_5xx (the sidecar counts one kind of consecutive failure)');
  }
  const out: OutlierDetection = {
    consecutiveFailures: e5xx === 0 ? 0 : consecutive,
    intervalMs: durationMs(od.interval) ?? envoyOutlier.intervalMs,
    baseEjectionMs: durationMs(od.base_ejection_time) ?? envoyOutlier.baseMs,
    maxEjectionMs: durationMs(od.max_ejection_time) ?? envoyOutlier.maxMs,
    maxEjectionPercent: wrapped(od.max_ejection_percent) ?? envoyOutlier.maxPercent,
  };
  if (out.intervalMs <= 0) return refused('outlier_detection.interval must be positive');
  if (out.baseEjectionMs <= 0) return refused('outlier_detection.base_ejection_time must be positive');
  if (out.maxEjectionMs < out.baseEjectionMs) return refused('outlier_detection.max_ejection_time must not be shorter than base_ejection_time');
  if (out.maxEjectionPercent > 100) return refused('outlier_detection.max_ejection_percent must be at most 100');
  const eRate = enforcing(od.enforcing_success_rate, 'enforcing_success_rate', 100);
  if (typeof eRate === 'string') return refused(eRate);
  if (eRate === 100) {
    out.successRate = {
      minimumHosts: wrapped(od.success_rate_minimum_hosts) ?? envoyOutlier.minHosts,
      requestVolume: wrapped(od.success_rate_request_volume) ?? envoyOutlier.volume,
      // Envoy writes the factor in thousandths
      stdevFactor: (wrapped(od.success_rate_stdev_factor) ?? envoyOutlier.stdev) / 1000,
    };
    if (out.successRate.stdevFactor <= 0) return refused('outlier_detection.success_rate_stdev_factor must be positive');
  }
  return decoded(out);
}

function decodeRetryBudget(options: ProtoObject | undefined): DecodeResult<RetryBudget> {
  const out = { ...defaultRetryBudget };
  for (const [key, any] of Object.entries(options ?? {})) {
    if (key === httpProtocolOptionsKey) continue; // cluster-protocol-decoder.ts
    if (key !== trellisStructs.retryBudget.name) {
      return refused(`unknown typed extension ${(any as ProtoObject)?.type_url || '(empty type_url)'} in typed_extension_protocol_options["${key}"]`);
    }
    const where = `typed_extension_protocol_options["${key}"]`;
    const value = trellisStruct(any as ProtoObject, trellisStructs.retryBudget.typeUrl);
    if (!value.ok) return refused(`${where}: ${value.error}`);
    const ratio = structNumber(value.value, 'ratio', out.ratio, 0, 1);
    if (typeof ratio === 'string') return refused(`${where}: ${ratio}`);
    const minRetriesPerSecond = structNumber(value.value, 'min_retries_per_second', out.minRetriesPerSecond, 0, 1e9, true);
    if (typeof minRetriesPerSecond === 'string') return refused(`${where}: ${minRetriesPerSecond}`);
    const windowMs = structNumber(value.value, 'window_ms', out.windowMs, 1, 3_600_000, true);
    if (typeof windowMs === 'string') return refused(`${where}: ${windowMs}`);
    return decoded({ ratio, minRetriesPerSecond, windowMs });
  }
  return decoded(out);
}
