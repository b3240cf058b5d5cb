// The sidecar's Prometheus metrics, in their own registry (never the global one, so tests and
// several proxies in one process stay apart). Labels are bounded: route and cluster names,
// status codes and error codes, never paths.
import type { ProxyError } from '../errors.js';
import { noErrorLabel } from '../errors.js';
import type { ConnectionStats } from '../cluster/pool/connection-pool.js';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterCell, type HistogramCell } from './metric-families.js';
import { ClusterResilienceStats, FaultStats, type ResilienceFamilies } from './resilience-stats.js';
import { ProxyTelemetry, type DirectionTelemetry, type LocalWorkload } from './request-telemetry.js';
import { ConnectionFamilies, type ConnectionTracker } from './connection-metrics.js';
import { MetricRegistry } from './metric-registry.js';
import { registerProcessMetrics } from './process-metrics.js';
import { connectionOf, peerIdentity } from '../tls/peer-identity.js';
import { grpcStatusLabels } from '../http/grpc.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Seconds: fine enough for a p99 from 1 ms to 10 s. */
export const durationBuckets = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2,
  3, 5, 10,
] as const;

export type Direction = 'outbound' | 'inbound';

/** The method label: the common methods by name, any other as `other` (a bounded set). */
export const methodLabels = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'other'] as const;

function methodIndex(method: string | undefined): number {
  switch (method) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'POST': return 2;
    case 'PUT': return 3;
    case 'DELETE': return 4;
    case 'PATCH': return 5;
    case 'OPTIONS': return 6;
    default: return 7;
  }
}

const methodCount = methodLabels.length;
export const unknownLabel = 'unknown';

/** `spiffe://<trust-domain>/ns/<namespace>/svc/<service>` → `<service>.<namespace>` (the cluster naming). */
export function serviceOfSpiffeId(id: string | null): string {
  if (id === null) return unknownLabel;
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/svc\/([^/]+)$/.exec(id);
  return m === null ? unknownLabel : `${m[2]}.${m[1]}`;
}

function clusterService(cluster: string): string {
  // `<service>.<namespace>`; `inbound|local` and the empty cluster (no route) name no service.
  return cluster === '' || cluster.includes('|') ? unknownLabel : cluster;
}

/**
 * The cells of one (source, destination) pair under one RouteStats, each bound on first use:
 * per status (or proxy error) an array by method, and per method × classification a histogram.
 */
class PeerCells {
  readonly byStatus = new Map<number, Array<CounterCell | undefined>>();
  /** gRPC failures under a non-failing HTTP status (200 with grpc-status ≠ 0): their own cells. */
  readonly byStatusGrpcFailed = new Map<number, Array<CounterCell | undefined>>();
  readonly byError = new Map<ProxyError, Array<CounterCell | undefined>>();
  readonly duration: Array<HistogramCell | undefined> = new Array(methodCount * 2).fill(undefined);
  constructor(
    /** source_service, destination_service, source_identity, destination_identity. */
    readonly peerLabels: readonly [string, string, string, string],
    /** What the labels were made from, to notice a change of the local workload or identity. */
    readonly local: LocalWorkload | null,
    readonly ownId: string | null,
    readonly remoteId: string | null,
  ) {}
}

/** The bound cells of one (direction, route, cluster): what a request touches when it ends. */
export class RouteStats {
  /** Outbound: the one pair (local → cluster). */
  private outboundPeer: PeerCells | null = null;
  /** Inbound: per verified caller identity (null: plaintext or no SPIFFE id); bounded by the services. */
  private readonly inboundPeers = new Map<string | null, PeerCells>();
  /** Outbound: the SPIFFE id the cluster's upstream TLS requires (one SAN), else null. */
  destinationIdentity: string | null = null;
  /** trellis_grpc_requests_total cells by grpc-status (grpcStatusLabels), bound on first use. */
  private grpcCells: Array<CounterCell | undefined> | null = null;

  constructor(
    private readonly metrics: ProxyMetrics,
    readonly direction: Direction,
    readonly route: string,
    readonly cluster: string,
    /** Tap, access log and tracing of this direction; its `on` is checked once per request. */
    readonly observer: DirectionTelemetry,
  ) {}

  /**
   * `seconds` < 0 skips the duration (e.g. a request that never reached a cluster). `req` gives
   * the method and, inbound, the caller's verified identity; without it both are unknown.
   */
  record(status: number, error: ProxyError | null, seconds: number, req?: IncomingMessage, grpcStatus = -1): void {
    if (!this.metrics.requestMetrics) return;
    const peer = this.peerCells(req === undefined ? null : connectionOf(req));
    const mi = req === undefined ? methodCount - 1 : methodIndex(req.method);
    // A gRPC call fails by its grpc-status, whatever the HTTP status (Linkerd's classification).
    const failed = error !== null || status >= 500 || grpcStatus > 0;
    if (grpcStatus >= 0) this.recordGrpc(grpcStatus);
    let row: Array<CounterCell | undefined> | undefined;
    if (error === null) {
      const byStatus = failed && status < 500 ? peer.byStatusGrpcFailed : peer.byStatus;
      row = byStatus.get(status);
      if (row === undefined) byStatus.set(status, (row = new Array<CounterCell | undefined>(methodCount).fill(undefined)));
    } else {
      row = peer.byError.get(error);
      if (row === undefined) peer.byError.set(error, (row = new Array<CounterCell | undefined>(methodCount).fill(undefined)));
    }
    let cell = row[mi];
    if (cell === undefined) {
      cell = this.metrics.requests.cell(
        this.direction, this.route, this.cluster, String(error === null ? status : error.status), error === null ? noErrorLabel : error.name,
        methodLabels[mi], failed ? 'failure' : 'success', ...peer.peerLabels,
      );
      row[mi] = cell;
    }
    cell.value++;
    if (seconds >= 0) {
      const di = mi * 2 + (failed ? 1 : 0);
      let h = peer.duration[di];
      if (h === undefined) {
        h = this.metrics.duration.cell(this.direction, this.route, this.cluster, methodLabels[mi], failed ? 'failure' : 'success', ...peer.peerLabels);
        peer.duration[di] = h;
      }
      h.observe(seconds);
    }
  }

  /** `code`: the grpc-status, or grpcStatusMissing for a gRPC response that carried none. */
  private recordGrpc(code: number): void {
    const cells = (this.grpcCells ??= new Array<CounterCell | undefined>(grpcStatusLabels.length).fill(undefined));
    let cell = cells[code];
    if (cell === undefined) cells[code] = cell = this.metrics.grpcRequests.cell(this.direction, this.route, this.cluster, grpcStatusLabels[code]);
    cell.value++;
  }

  private peerCells(socket: Socket | null): PeerCells {
    const local = this.metrics.telemetry.local;
    const ownId = this.metrics.ownIdentity();
    if (this.direction === 'outbound') {
      const p = this.outboundPeer;
      const remoteId = this.destinationIdentity;
      if (p !== null && p.local === local && p.ownId === ownId && p.remoteId === remoteId) return p;
      const labels: [string, string, string, string] = [localService(local), clusterService(this.cluster), ownId ?? unknownLabel, remoteId ?? unknownLabel];
      return (this.outboundPeer = new PeerCells(labels, local, ownId, remoteId));
    }
    const remoteId = socket === null ? null : peerIdentity(socket);
    const p = this.inboundPeers.get(remoteId);
    if (p !== undefined && p.local === local && p.ownId === ownId) return p;
    const labels: [string, string, string, string] = [serviceOfSpiffeId(remoteId), localService(local), remoteId ?? unknownLabel, ownId ?? unknownLabel];
    const cells = new PeerCells(labels, local, ownId, remoteId);
    this.inboundPeers.set(remoteId, cells);
    return cells;
  }
}

function localService(local: LocalWorkload | null): string {
  return local === null ? unknownLabel : `${local.service}.${local.namespace}`;
}

/** Labels both request families carry after their own. */
const peerLabelNames = ['method', 'classification', 'source_service', 'destination_service', 'source_identity', 'destination_identity'] as const;

export class ProxyMetrics implements ResilienceFamilies {
  readonly registry = new MetricRegistry();
  readonly requests = new CounterFamily('trellis_requests_total', 'Requests handled by the sidecar.', [
    'direction', 'route', 'cluster', 'status_code', 'error', ...peerLabelNames,
  ]);
  readonly duration = new HistogramFamily(
    'trellis_request_duration_seconds',
    'Time from the request head to the end of the response, as seen by the sidecar.',
    ['direction', 'route', 'cluster', ...peerLabelNames],
    durationBuckets,
  );
  readonly upstreamConnections = new ConnectionFamilies({
    opened: 'trellis_upstream_connections_total', closed: 'trellis_upstream_connections_closed_total',
    active: 'trellis_upstream_connections_active', bytesIn: 'trellis_upstream_received_bytes_total',
    bytesOut: 'trellis_upstream_sent_bytes_total', maxRequests: 'trellis_upstream_connections_max_requests_total',
  }, 'Upstream', 'cluster');
  readonly downstreamConnections = new ConnectionFamilies({
    opened: 'trellis_downstream_connections_total', closed: 'trellis_downstream_connections_closed_total',
    active: 'trellis_downstream_connections_active', bytesIn: 'trellis_downstream_received_bytes_total',
    bytesOut: 'trellis_downstream_sent_bytes_total',
  }, 'Downstream', 'direction');
  /** The sidecar's own SPIFFE id (source of outbound, destination of inbound); null until known. */
  ownIdentity: () => string | null = () => null;
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
  readonly grpcRequests = new CounterFamily('trellis_grpc_requests_total',
    'gRPC calls by their grpc-status (from the trailers, a trailers-only response, or the error the mesh answered with; "missing" when none came).',
    ['direction', 'route', 'cluster', 'grpc_status']);
  private readonly routeStats = new Map<string, RouteStats>();
  private readonly clusterResilience = new Map<string, ClusterResilienceStats>();
  private readonly faultStats = new Map<string, FaultStats>();
  private stopProcessMetrics = () => {};

  /** Per-request telemetry beyond metrics; reached by the data path through RouteStats.observer. */
  readonly telemetry: ProxyTelemetry;
  /**
   * false (`trellis proxy --no-request-metrics`): requests are not counted or timed (what telemetry
   * costs is then measurable; `trellis stat`, canary judging and dashboards see nothing from it).
   */
  readonly requestMetrics: boolean;

  constructor(opts: { processMetrics?: boolean; telemetry?: ProxyTelemetry; requestMetrics?: boolean } = {}) {
    this.telemetry = opts.telemetry ?? new ProxyTelemetry();
    this.requestMetrics = opts.requestMetrics ?? true;
    for (const m of [
      this.requests, this.duration, this.configVersion,
      this.retries, this.retryBudgetExhausted, this.circuitBreakerRejections, this.timeouts, this.faultsInjected, this.grpcRequests,
      ...this.upstreamConnections.families, ...this.downstreamConnections.families,
    ]) {
      this.registry.registerMetric(m);
    }
    if (opts.processMetrics !== false) this.stopProcessMetrics = registerProcessMetrics(this.registry, 'trellis_proxy_');
  }

  /** Cached per label tuple; callers cache the result further (per compiled route). */
  routeStatsFor(direction: Direction, route: string, cluster: string): RouteStats {
    const key = `${direction}\u0000${route}\u0000${cluster}`;
    let s = this.routeStats.get(key);
    if (!s) {
      s = new RouteStats(this, direction, route, cluster, this.telemetry.of(direction));
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
    return this.upstreamConnections.tracker(cluster);
  }

  /** Downstream connections accepted by a listener of this direction. */
  downstreamTracker(direction: Direction): ConnectionTracker {
    return this.downstreamConnections.tracker(direction);
  }

  setConfigVersion(version: string, source: string): void {
    this.configVersion.reset();
    this.configVersion.cell(version, source).set(1);
  }

  text(): string {
    return this.registry.metrics();
  }

  /** Stops the process metrics' samplers (event-loop delay, GC observer). */
  close(): void {
    this.stopProcessMetrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
