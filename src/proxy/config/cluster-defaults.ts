import type { CircuitBreakers, RetryBudget } from './proxy-config.js';

// Defaults where xDS leaves a field out: Envoy's circuit-breaker thresholds and Linkerd's retry
// budget, so an unconfigured cluster is already protected.
export const defaultCircuitBreakers: Readonly<CircuitBreakers> = Object.freeze({
  maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3,
});

export const defaultRetryBudget: Readonly<RetryBudget> = Object.freeze({ ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 });

/** Envoy's default idle timeout of upstream connections (1 h); our pools sweep sooner on their own. */
export const defaultIdleTimeoutMs = 3_600_000;
