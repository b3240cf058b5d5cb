// The sidecar's Prometheus metrics, in their own registry (never the global one, so tests and
// several proxies in one process stay apart). Labels are bounded: route and cluster names,
// status codes and error codes, never paths.
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ProxyError } from '../errors.js';
import { noErrorLabel } from '../errors.js';
import type { ConnectionStats } from '../cluster/pool/connection-pool.js';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterCell, type HistogramCell } from './metric-families.js';
import { ClusterResilienceStats, FaultStats, type ResilienceFamilies } from './resilience-stats.js';
import { ProxyTelemetry, type DirectionTelemetry } from './request-telemetry.js';

/** Seconds: fine enough for a p99 from 1 ms to 10 s. */
export const durationBuckets = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2,
  3, 5, 10,
] as const;

export type Direction = 'outbound' | 'inbound';

/** The bound cells of one (direction, route, cluster): what a request touches when it ends. */
export class RouteStats {
  private readonly byStatus = new Map<number, CounterCell>();
  private readonly byError = new Map<ProxyError, CounterCell>();
  constructor(
    private readonly metrics: ProxyMetrics,
    readonly direction: Direction,
    readonly route: string,
    readonly cluster: string,
    readonly duration: HistogramCell,
    /** Tap, access log and tracing of this direction; its `on` is checked once per request. */
    readonly observer: DirectionTelemetry,
  ) {}

  /** `seconds` < 0 skips the duration (e.g. a request that never reached a cluster). */
  record(status: number, error: ProxyError | null, seconds: number): void {
    let cell: CounterCell | undefined;
    if (error === null) {
      cell = this.byStatus.get(status);
      if (cell === undefined) {
        cell = this.metrics.requests.cell(this.direction, this.route, this.cluster, String(status), noErrorLabel);
        this.byStatus.set(status, cell);
      }
    } else {
      cell = this.byError.get(error);
      if (cell === undefined) {
        cell = this.metrics.requests.cell(this.direction, this.route, this.cluster, String(error.status), error.name);
        this.byError.set(error, cell);
      }
    }
    cell.value++;
    if (seconds >= 0) this.duration.observe(seconds);
  }
}

export class ProxyMetrics implements ResilienceFamilies {
  readonly registry = new Registry();
  readonly requests = new CounterFamily('trellis_requests_total', 'Requests handled by the sidecar.', [
    'direction', 'route', 'cluster', 'status_code', 'error',
  ]);
  readonly duration = new HistogramFamily(
    'trellis_request_duration_seconds',
    'Time from the request head to the end of the response, as seen by the sidecar.',
    ['direction', 'route', 'cluster'],
    durationBuckets,
  );
  readonly connectionsTotal = new CounterFamily('trellis_upstream_connections_total', 'Upstream connections opened.', ['cluster']);
  readonly connectionsActive = new GaugeFamily('trellis_upstream_connections_active', 'Upstream connections open now.', ['cluster']);
  readonly configVersion = new GaugeFamily('trellis_config_version_info', 'The applied config version (value 1).', ['version', 'source']);
  readonly retries = new CounterFamily('trellis_retries_total', 'Upstream tries repeated, by why.', ['cluster', 'reason']);
  readonly retryBudgetExhausted = new CounterFamily(
    'trellis_retry_budget_exhausted_total', 'Retries not made because the cluster\'s retry budget was spent.', ['cluster'],
  );
  readonly circuitBreakerRejections = new CounterFamily(
    'trellis_circuit_breaker_rejections_total', 'Requests answered 503 overloaded, or retries skipped, at a circuit-breaker limit.', ['cluster', 'limit'],
  );
  readonly timeouts = new CounterFamily('trellis_timeouts_total', 'Expired timeouts, by kind (request, per-try, connect).', ['cluster', 'kind']);
  readonly faultsInjected = new CounterFamily('trellis_faults_injected_total', 'Requests delayed or aborted by fault injection.', ['route', 'kind']);
  private readonly routeStats = new Map<string, RouteStats>();
  private readonly clusterResilience = new Map<string, ClusterResilienceStats>();
  private readonly faultStats = new Map<string, FaultStats>();

  /** Per-request telemetry beyond metrics; reached by the data path through RouteStats.observer. */
  readonly telemetry: ProxyTelemetry;

  constructor(opts: { processMetrics?: boolean; telemetry?: ProxyTelemetry } = {}) {
    this.telemetry = opts.telemetry ?? new ProxyTelemetry();
    for (const m of [
      this.requests, this.duration, this.connectionsTotal, this.connectionsActive, this.configVersion,
      this.retries, this.retryBudgetExhausted, this.circuitBreakerRejections, this.timeouts, this.faultsInjected,
    ]) {
      this.registry.registerMetric(m as any);
    }
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'trellis_proxy_' });
  }

  /** Cached per label tuple; callers cache the result further (per compiled route). */
  routeStatsFor(direction: Direction, route: string, cluster: string): RouteStats {
    const key = `${direction}\u0000${route}\u0000${cluster}`;
    let s = this.routeStats.get(key);
    if (!s) {
      s = new RouteStats(this, direction, route, cluster, this.duration.cell(direction, route, cluster), this.telemetry.of(direction));
      this.routeStats.set(key, s);
    }
    return s;
  }

  resilienceStatsFor(cluster: string): ClusterResilienceStats {
    let s = this.clusterResilience.get(cluster);
    if (!s) {
      s = new ClusterResilienceStats(this, cluster);
      this.clusterResilience.set(cluster, s);
    }
    return s;
  }

  faultStatsFor(route: string): FaultStats {
    let s = this.faultStats.get(route);
    if (!s) {
      s = new FaultStats(this, route);
      this.faultStats.set(route, s);
    }
    return s;
  }

  connectionStats(cluster: string): ConnectionStats {
    const total = this.connectionsTotal.cell(cluster);
    const active = this.connectionsActive.cell(cluster);
    return {
      opened() {
        total.value++;
        active.value++;
      },
      closed() {
        active.value--;
      },
    };
  }

  setConfigVersion(version: string, source: string): void {
    this.configVersion.reset();
    this.configVersion.cell(version, source).set(1);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
