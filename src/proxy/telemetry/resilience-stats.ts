// The bound counters of one cluster's resilience (retries, budget, circuit breakers, timeouts)
// and of one route's fault injection: label children made once when the cluster or route is
// first used, so the request path only bumps numbers.
import type { CounterCell, CounterFamily } from './metric-families.js';

export type RetryReasonLabel = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-status-code' | 'per-try-timeout'
  | 'cancelled' | 'deadline-exceeded' | 'internal' | 'resource-exhausted' | 'unavailable';
export type BreakerLimitLabel = 'connections' | 'pending' | 'requests' | 'retries';
export type TimeoutKind = 'request' | 'per-try' | 'connect';

export interface ResilienceFamilies {
  readonly retries: CounterFamily;
  readonly retryBudgetExhausted: CounterFamily;
  readonly circuitBreakerRejections: CounterFamily;
  readonly timeouts: CounterFamily;
  readonly faultsInjected: CounterFamily;
}

export class ClusterResilienceStats {
  readonly retries: Readonly<Record<RetryReasonLabel, CounterCell>>;
  readonly budgetExhausted: CounterCell;
  readonly rejections: Readonly<Record<BreakerLimitLabel, CounterCell>>;
  readonly timeouts: Readonly<Record<TimeoutKind, CounterCell>>;

  constructor(f: ResilienceFamilies, cluster: string) {
    this.retries = {
      'connect-failure': f.retries.cell(cluster, 'connect-failure'),
      reset: f.retries.cell(cluster, 'reset'),
      'gateway-error': f.retries.cell(cluster, 'gateway-error'),
      '5xx': f.retries.cell(cluster, '5xx'),
      'retriable-status-code': f.retries.cell(cluster, 'retriable-status-code'),
      'per-try-timeout': f.retries.cell(cluster, 'per-try-timeout'),
      // gRPC: the grpc-status of a trailers-only answer (Envoy's retry_on names)
      cancelled: f.retries.cell(cluster, 'cancelled'),
      'deadline-exceeded': f.retries.cell(cluster, 'deadline-exceeded'),
      internal: f.retries.cell(cluster, 'internal'),
      'resource-exhausted': f.retries.cell(cluster, 'resource-exhausted'),
      unavailable: f.retries.cell(cluster, 'unavailable'),
    };
    this.budgetExhausted = f.retryBudgetExhausted.cell(cluster);
    this.rejections = {
      connections: f.circuitBreakerRejections.cell(cluster, 'connections'),
      pending: f.circuitBreakerRejections.cell(cluster, 'pending'),
      requests: f.circuitBreakerRejections.cell(cluster, 'requests'),
      retries: f.circuitBreakerRejections.cell(cluster, 'retries'),
    };
    this.timeouts = {
      request: f.timeouts.cell(cluster, 'request'),
      'per-try': f.timeouts.cell(cluster, 'per-try'),
      connect: f.timeouts.cell(cluster, 'connect'),
    };
  }
}

export class FaultStats {
  readonly delay: CounterCell;
  readonly abort: CounterCell;
  constructor(f: ResilienceFamilies, route: string) {
    this.delay = f.faultsInjected.cell(route, 'delay');
    this.abort = f.faultsInjected.cell(route, 'abort');
  }
}
