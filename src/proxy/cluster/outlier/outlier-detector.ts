// Outlier detection: the cluster reports every attempt's outcome, and the detector ejects hosts
// that keep failing (Envoy's outlier detection, Linkerd's failure accrual). It works only on the
// sidecar's own observations, so a host that discovery still lists but that is dead stops getting
// traffic. The per-host state lives on the ClusterEndpoint; a detector holds the rules. When the
// cluster has no outlierDetection config the null detector stands in (Envoy's
// DetectorHostMonitorNullImpl), so the data path never asks "is it enabled?".
import type { OutlierDetection } from '../../config/proxy-config.js';
import type { AttemptOutcome, ClusterEndpoint } from '../cluster-endpoint.js';

export type EjectionReason = 'consecutive-failures' | 'success-rate' | 'probe-failure';

export interface OutlierDetectorDeps {
  /** Monotonic clock in ms. */
  now: () => number;
  /** Uniform in [0, 1). */
  random: () => number;
  /** Counts one ejection (metrics); called only on the rare ejection, never per request. */
  ejected?: (reason: EjectionReason) => void;
}

/**
 * Each method returns true when the set of pickable hosts changed, so the cluster rebuilds its
 * balancer's picker then and only then.
 */
export interface OutlierDetector {
  /** Called before every pick: O(1) unless an ejection has run out (then the host goes on probation). */
  tick(): boolean;
  attemptStarted(host: ClusterEndpoint): boolean;
  attemptEnded(host: ClusterEndpoint, outcome: AttemptOutcome): boolean;
  /** The cluster's current hosts (after an endpoint update or when the detector is replaced). */
  setHosts(hosts: readonly ClusterEndpoint[]): void;
  /** Stops timers; the detector is not used again. */
  close(): void;
}

/** Whether an outcome counts as a failure of the host (5xx answers and connection-level errors). */
export function isFailure(outcome: AttemptOutcome): boolean {
  return outcome !== 'success' && outcome !== 'cancelled';
}

export type OutlierDetectorFactory = (config: OutlierDetection, deps: OutlierDetectorDeps) => OutlierDetector;
