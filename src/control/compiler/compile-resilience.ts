// Typed resilience settings → the Envoy fields that carry them, or Trellis typed extensions where
// Envoy has none (docs/xds.md, "Resilience"). The sidecar's decoders are the exact inverse.
import { extensionTypeUrls, faultFilterName, trellisStructs, typedStruct } from '../../xds/trellis-extensions.js';
import type { RetryPolicy } from '../../proxy/config/proxy-config.js';
import { packMessage } from './pack.js';
import type { ClusterResilience, RouteResilience } from './resilience-defaults.js';
import { durationFromMs, type XdsObject } from './xds-object.js';

const u32 = (value: number): XdsObject => ({ value });

function packTypedStruct(typeUrl: string, value: Record<string, unknown>): XdsObject {
  return packMessage(extensionTypeUrls.typedStruct, typedStruct(typeUrl, value)) as unknown as XdsObject;
}

/** The fields of an EDS cluster that carry its resilience settings. */
export function clusterResilienceFields(r: ClusterResilience): XdsObject {
  const out: XdsObject = { connect_timeout: durationFromMs(r.connectTimeoutMs) };
  const lb = r.lbPolicy;
  if (lb.kind === 'round-robin') {
    out.lb_policy = 'ROUND_ROBIN';
  } else if (lb.kind === 'least-request') {
    out.lb_policy = 'LEAST_REQUEST';
    out.least_request_lb_config = { choice_count: u32(lb.choiceCount) };
  } else {
    // Envoy has no peak-EWMA: the policy travels as a typed extension, which Envoy prefers over lb_policy
    out.load_balancing_policy = {
      policies: [{
        typed_extension_config: {
          name: trellisStructs.peakEwma.name,
          typed_config: packTypedStruct(trellisStructs.peakEwma.typeUrl, { decay_ms: lb.decayMs, default_rtt_ms: lb.defaultRttMs }),
        },
      }],
    };
  }
  const cb = r.circuitBreakers;
  out.circuit_breakers = {
    thresholds: [{
      priority: 'DEFAULT',
      max_connections: u32(cb.maxConnections), max_pending_requests: u32(cb.maxPendingRequests),
      max_requests: u32(cb.maxRequests), max_retries: u32(cb.maxRetries),
    }],
  };
  const od = r.outlierDetection;
  if (od) {
    out.outlier_detection = {
      // split_external_local_origin_errors stays false: connection failures count as 5xx, as the
      // sidecar counts them
      consecutive_5xx: u32(od.consecutiveFailures),
      enforcing_consecutive_5xx: u32(100),
      consecutive_gateway_failure: u32(od.consecutiveFailures),
      // gateway failures are already 5xx: enforcing them separately would count them twice
      enforcing_consecutive_gateway_failure: u32(0),
      interval: durationFromMs(od.intervalMs),
      base_ejection_time: durationFromMs(od.baseEjectionMs),
      max_ejection_time: durationFromMs(od.maxEjectionMs),
      max_ejection_percent: u32(od.maxEjectionPercent),
      // Envoy runs success-rate ejection unless told not to
      enforcing_success_rate: u32(od.successRate ? 100 : 0),
      ...(od.successRate ? {
        success_rate_minimum_hosts: u32(od.successRate.minimumHosts),
        success_rate_request_volume: u32(od.successRate.requestVolume),
        success_rate_stdev_factor: u32(Math.round(od.successRate.stdevFactor * 1000)),
      } : {}),
    };
  }
  out.common_http_protocol_options = {
    idle_timeout: durationFromMs(r.idleTimeoutMs),
    ...(r.maxRequestsPerConnection ? { max_requests_per_connection: u32(r.maxRequestsPerConnection) } : {}),
  };
  out.typed_extension_protocol_options = {
    [trellisStructs.retryBudget.name]: packTypedStruct(trellisStructs.retryBudget.typeUrl, {
      ratio: r.retryBudget.ratio, min_retries_per_second: r.retryBudget.minRetriesPerSecond, window_ms: r.retryBudget.windowMs,
    }),
  };
  return out;
}

function retryPolicy(r: RetryPolicy): XdsObject {
  const out: XdsObject = {
    retry_on: r.retryOn.join(','),
    num_retries: u32(r.maxRetries),
    retry_back_off: { base_interval: durationFromMs(r.backoffBaseMs), max_interval: durationFromMs(r.backoffMaxMs) },
  };
  if (r.perTryTimeoutMs > 0) out.per_try_timeout = durationFromMs(r.perTryTimeoutMs);
  if (r.retriableStatusCodes.length) out.retriable_status_codes = r.retriableStatusCodes;
  return out;
}

// FractionalPercent per million, so that 0.1% (and 4 decimals in general) survive the trip
function perMillion(percent: number): XdsObject {
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/** A route's resilience: fields of its RouteAction, and entries of its typed_per_filter_config. */
export function routeResilienceFields(r: RouteResilience): { action: XdsObject; perFilter: Record<string, XdsObject> } {
  const action: XdsObject = {};
  const perFilter: Record<string, XdsObject> = {};
  if (r.timeoutMs > 0) action.timeout = durationFromMs(r.timeoutMs);
  if (r.retry) {
    action.retry_policy = retryPolicy(r.retry);
    perFilter[trellisStructs.retryOptions.name] = packTypedStruct(trellisStructs.retryOptions.typeUrl, {
      non_idempotent: r.retry.nonIdempotent, max_buffer_bytes: r.retry.maxBufferBytes,
    });
  }
  if (r.fault && (r.fault.delay || r.fault.abort)) {
    const fault: XdsObject = {};
    if (r.fault.delay) fault.delay = { fixed_delay: durationFromMs(r.fault.delay.delayMs), percentage: perMillion(r.fault.delay.percent) };
    if (r.fault.abort) fault.abort = { http_status: r.fault.abort.httpStatus, percentage: perMillion(r.fault.abort.percent) };
    perFilter[faultFilterName] = packMessage(extensionTypeUrls.httpFault, fault) as unknown as XdsObject;
  }
  return { action, perFilter };
}
