// The verdict on one step: the new backend against the old one, from what the sidecars' metrics
// say callers saw. Pure, so the rules are tested without traffic.
import type { StatsRow } from '../telemetry/stats-history.js';
import type { BackendFigures, RolloutThresholds, StepVerdict } from './rollout-state.js';

export interface Judgement {
  verdict: StepVerdict;
  reason: string;
  newBackend: BackendFigures;
  baseline: BackendFigures | null;
}

/**
 * A backend's figures as its callers saw them: every caller → backend edge summed. The p99 is
 * the request-weighted mean of the edges' p99 (the rows carry quantiles, not buckets); old and
 * new are measured the same way, which is what the comparison needs.
 */
export function backendFigures(rows: readonly StatsRow[], backend: string): BackendFigures {
  let requests = 0;
  let successes = 0;
  let p99Weighted = 0;
  let p99Requests = 0;
  for (const r of rows) {
    if (r.kind !== 'edge' || r.to !== backend || r.requests <= 0) continue;
    requests += r.requests;
    successes += (r.successRate ?? 0) * r.requests;
    if (r.p99Ms !== null) {
      p99Weighted += r.p99Ms * r.requests;
      p99Requests += r.requests;
    }
  }
  return {
    requests,
    successRate: requests > 0 ? successes / requests : null,
    p99Ms: p99Requests > 0 ? p99Weighted / p99Requests : null,
  };
}

/**
 * Fails when the new backend's error rate is more than `maxErrorRateIncrease` above the
 * baseline's, or its p99 more than `maxP99Ratio` times the baseline's (and more than
 * `p99SlackMs` above it). Without a baseline (the old backend had no traffic yet) the error rate
 * is compared with zero errors and latency is not judged.
 */
export function judgeStep(
  newBackend: BackendFigures,
  old: BackendFigures,
  lastBaseline: BackendFigures | null,
  t: RolloutThresholds,
): Judgement {
  const baseline = old.requests >= t.minRequests ? old : lastBaseline;
  if (newBackend.requests < t.minRequests || newBackend.successRate === null) {
    return { verdict: 'no-traffic', reason: `${newBackend.requests} requests to the new backend (at least ${t.minRequests} needed)`, newBackend, baseline };
  }
  const newErr = 1 - newBackend.successRate;
  const baseErr = baseline?.successRate !== null && baseline?.successRate !== undefined ? 1 - baseline.successRate : 0;
  if (newErr - baseErr > t.maxErrorRateIncrease) {
    return {
      verdict: 'fail',
      reason: `error rate ${pct(newErr)} vs ${pct(baseErr)} (allowed +${pct(t.maxErrorRateIncrease)})`,
      newBackend, baseline,
    };
  }
  if (baseline?.p99Ms != null && newBackend.p99Ms !== null
    && newBackend.p99Ms > baseline.p99Ms * t.maxP99Ratio && newBackend.p99Ms - baseline.p99Ms > t.p99SlackMs) {
    return {
      verdict: 'fail',
      reason: `p99 ${ms(newBackend.p99Ms)} vs ${ms(baseline.p99Ms)} (allowed ×${t.maxP99Ratio})`,
      newBackend, baseline,
    };
  }
  const p99 = newBackend.p99Ms === null ? '' : `, p99 ${ms(newBackend.p99Ms)}${baseline?.p99Ms != null ? ` vs ${ms(baseline.p99Ms)}` : ''}`;
  return { verdict: 'pass', reason: `error rate ${pct(newErr)} vs ${pct(baseErr)}${p99}`, newBackend, baseline };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function ms(x: number): string {
  return `${x.toFixed(1)}ms`;
}
