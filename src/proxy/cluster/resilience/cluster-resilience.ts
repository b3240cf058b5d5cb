// A cluster's resilience state that outlives single requests: its circuit breaker and retry
// budget, with their bound counters. Kept beside the Cluster object (not inside it) so a
// cluster that is replaced starts with fresh counters and one that stays keeps them.
import type { Cluster } from '../cluster.js';
import type { ProxyMetrics } from '../../telemetry/metrics.js';
import type { ClusterResilienceStats } from '../../telemetry/resilience-stats.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { RetryBudgetWindow } from './retry-budget.js';

export class ClusterResilience {
  readonly breaker: CircuitBreaker;
  readonly budget = new RetryBudgetWindow();

  constructor(readonly cluster: Cluster, readonly stats: ClusterResilienceStats) {
    this.breaker = new CircuitBreaker(() => cluster.config.circuitBreakers);
  }
}

const byCluster = new WeakMap<Cluster, ClusterResilience>();

export function clusterResilience(cluster: Cluster, metrics: ProxyMetrics): ClusterResilience {
  let r = byCluster.get(cluster);
  if (r === undefined) {
    r = new ClusterResilience(cluster, metrics.resilienceStatsFor(cluster.name));
    byCluster.set(cluster, r);
  }
  return r;
}
