// The mesh's resilience when no ResiliencePolicy says otherwise (docs/xds.md, "Resilience"):
// Linkerd's balancer and retry budget, Envoy's circuit breakers and outlier detection, and
// Istio-like retries of idempotent requests. A policy overrides these field by field.
import type { H2UpgradePolicy } from '../../resources/mesh-config.js';
import type { CircuitBreakers, LbPolicy, OutlierDetection, RetryBudget, RetryPolicy } from '../../proxy/config/proxy-config.js';

export interface ClusterResilience {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Requests per upstream connection; absent = no limit (keep-alive as long as the peer allows). */
  maxRequestsPerConnection?: number;
  /** From the Service's policy; absent = the MeshConfig's h2UpgradePolicy. */
  h2UpgradePolicy?: H2UpgradePolicy;
  lbPolicy: LbPolicy;
  circuitBreakers: CircuitBreakers;
  retryBudget: RetryBudget;
  outlierDetection?: OutlierDetection;
}

export interface RouteResilience {
  timeoutMs: number;        // 0 = none
  retry?: RetryPolicy;      // absent (or maxRetries 0) = no retries
  fault?: { delay?: { percent: number; delayMs: number }; abort?: { percent: number; httpStatus: number } };
}

// Linkerd's peak-EWMA parameters (linkerd2-proxy: decay 10 s, default RTT 30 ms): a host without
// history looks like a fast LAN peer, so it gets tried instead of starved.
export const defaultPeakEwma: LbPolicy = { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 };
export const defaultLeastRequestChoices = 2;

export const defaultOutlierDetection: OutlierDetection = {
  consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50,
};
export const defaultSuccessRate = { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 };

export function defaultClusterResilience(): ClusterResilience {
  return {
    connectTimeoutMs: 1000,
    // Envoy's default (1 h); the sidecar's pools also close idle connections on their own
    idleTimeoutMs: 3_600_000,
    lbPolicy: { ...defaultPeakEwma },
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 },
    outlierDetection: { ...defaultOutlierDetection },
  };
}

// Retried by default: requests that never reached the app (connect failure, reset) and the two
// gateway answers that say the upstream did not process it (502, 503). Not 504: retrying a
// timeout doubles the load on a service that is already slow. Envoy's backoff (25 ms base, 10×).
export function defaultRetryPolicy(): RetryPolicy {
  return {
    maxRetries: 2,
    retryOn: ['connect-failure', 'reset', 'retriable-status-codes'],
    retriableStatusCodes: [502, 503],
    perTryTimeoutMs: 0,
    backoffBaseMs: 25,
    backoffMaxMs: 250,
    nonIdempotent: false,
    maxBufferBytes: 64 * 1024,
  };
}

export function defaultRouteResilience(): RouteResilience {
  return { timeoutMs: 0, retry: defaultRetryPolicy() };
}
