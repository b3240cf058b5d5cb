// What one route (towards one of its clusters) asks of the data path, compiled once per config
// and cached on the compiled route: its retry policy, fault injection and their counters. A
// route without them holds nulls, and the request path skips each stage on one null check.
import type { Route } from '../../config/proxy-config.js';
import type { ProxyMetrics } from '../../telemetry/metrics.js';
import type { FaultStats } from '../../telemetry/resilience-stats.js';
import { CompiledFault } from './fault-injection.js';
import { CompiledRetryPolicy } from './retry-policy.js';

export class RouteResilience {
  readonly retry: CompiledRetryPolicy | null;
  readonly fault: CompiledFault | null;
  readonly faultStats: FaultStats | null;
  readonly timeoutMs: number;

  constructor(route: Route, metrics: ProxyMetrics) {
    this.retry = route.retry && route.retry.maxRetries > 0 ? new CompiledRetryPolicy(route.retry) : null;
    this.fault = route.fault && (route.fault.abort || route.fault.delay) ? new CompiledFault(route.fault) : null;
    this.faultStats = this.fault === null ? null : metrics.faultStatsFor(route.name);
    this.timeoutMs = Math.max(0, route.timeoutMs);
  }
}
