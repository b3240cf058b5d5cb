// A cluster: its config, one balancer per priority level (locality.ts splits traffic between
// the levels by their health), its outlier detector and one host (connection pool plus
// balancing and ejection state) per endpoint. Endpoint updates keep the hosts of endpoints that
// stay, so their keep-alive sockets, in-flight exchanges, RTT history and ejections survive a
// config push; pools of endpoints that leave are retired (idle sockets close now, busy ones
// after their exchange).
//
// The listener drives it per attempt: pick() → attemptStarted(p) → attemptEnded(p, outcome, rtt).
import type { ClusterConfig, EndpointConfig } from '../config/proxy-config.js';
import type { ProxyError } from '../errors.js';
import {
  createLoadBalancer, defaultDeps, failPicker, type LoadBalancer, type LoadBalancerDeps, type PickResult,
} from './balancer/load-balancer.js';
import { setup as setupRoundRobin } from './balancer/load-balancer-round-robin.js';
import { setup as setupLeastRequest } from './balancer/load-balancer-least-request.js';
import {
  defaultDecayMs, observeRtt, rttCost, setup as setupPeakEwma, defaultRttMs,
} from './balancer/load-balancer-peak-ewma.js';
import { ClusterEndpoint, type AttemptOutcome, type PickedEndpoint } from './cluster-endpoint.js';
import { cumulativeLoads, priorityLoads } from './locality.js';
import { createOutlierDetector } from './outlier/outlier-detectors.js';
import type { EjectionReason, OutlierDetector } from './outlier/outlier-detector.js';
import { ConnectionPool, poolDefaultIdleTimeoutMs, type ConnectionStats } from './pool/connection-pool.js';
import type { MeshTls } from '../tls/mesh-tls.js';
import type { TlsMetrics } from '../tls/tls-metrics.js';
import type { ResponseLimits } from './pool/upstream-client.js';
import { UpstreamTlsPolicy } from '../tls/upstream-tls.js';

setupRoundRobin();
setupLeastRequest();
setupPeakEwma();

export type { AttemptOutcome, PickedEndpoint } from './cluster-endpoint.js';

export interface ClusterOptions {
  maxIdlePerEndpoint?: number;
  idleTimeoutMs?: number;
  stats?: ConnectionStats;
  /** Monotonic clock in ms (tests inject one). */
  now?: () => number;
  /** Uniform in [0, 1) (tests inject a seeded one). */
  random?: () => number;
  /** Counts an ejection of one of this cluster's hosts. */
  ejected?: (reason: EjectionReason) => void;
  /** The workload certificate for mTLS to peers whose endpoints say so (absent: plaintext only). */
  meshTls?: MeshTls | null;
  tlsMetrics?: TlsMetrics;
  /** Size and count limits of upstream response heads (the sidecar's; Envoy's defaults without). */
  responseLimits?: ResponseLimits;
}

/** A pick's failure is a ProxyError; a success is the host. */
export function isPickError(p: PickedEndpoint | ProxyError): p is ProxyError {
  return !(p instanceof ClusterEndpoint);
}

/** Whether a retry should rather not go to this host: the one it retries, or one whose last attempt failed. */
function suspect(host: ClusterEndpoint, avoid: PickedEndpoint): boolean {
  return host === avoid || host.consecutiveFailures > 0;
}

/** The hosts of one EDS priority and the balancer that picks among them. */
interface PriorityLevel {
  readonly priority: number;
  readonly balancer: LoadBalancer;
  hosts: ClusterEndpoint[];
}

export class Cluster {
  config: ClusterConfig;
  private tlsPolicy: UpstreamTlsPolicy | null = null;
  /** In priority order; a cluster without priorities has one level. */
  private levels: PriorityLevel[] = [];
  /** Cumulative traffic share of each level (the last loaded one is 1). */
  private cumulative: number[] = [1];
  private outlier: OutlierDetector;
  private readonly deps: LoadBalancerDeps;
  private hostsByKey = new Map<string, ClusterEndpoint>();
  private hostList: ClusterEndpoint[] = [];
  private endpointList: EndpointConfig[] = [];
  /** Pools of endpoints that left, kept until their busy sockets finish. */
  private readonly retiring = new Set<ConnectionPool>();
  private decayMs = defaultDecayMs;
  private defaultRttMs = defaultRttMs;

  constructor(config: ClusterConfig, private readonly opts: ClusterOptions = {}) {
    this.config = config;
    this.deps = { now: opts.now ?? defaultDeps.now, random: opts.random ?? defaultDeps.random };
    this.outlier = createOutlierDetector(config.outlierDetection, { ...this.deps, ejected: opts.ejected });
    this.setRttParams(config);
    this.tlsPolicy = this.makeTlsPolicy(null);
  }

  /** The cluster's mTLS settings; the same object while they do not change, so pools keep their sockets. */
  private makeTlsPolicy(prev: UpstreamTlsPolicy | null): UpstreamTlsPolicy | null {
    const t = this.config.upstreamTls;
    const mesh = this.opts.meshTls;
    if (!t || !mesh || !this.opts.tlsMetrics) return null;
    if (prev && prev.sameAs(t.subjectAltNames, t.alpn, t.sni)) return prev;
    return new UpstreamTlsPolicy(mesh, t.subjectAltNames, t.alpn, t.sni, this.opts.tlsMetrics);
  }

  get name(): string {
    return this.config.name;
  }

  get endpoints(): readonly EndpointConfig[] {
    return this.endpointList;
  }

  /** The hosts with their live state (admin, metrics at scrape time). */
  get hosts(): readonly ClusterEndpoint[] {
    return this.hostList;
  }

  updateConfig(config: ClusterConfig): void {
    const old = this.config;
    this.config = config;
    this.setRttParams(config);
    if (JSON.stringify(config.lbPolicy) !== JSON.stringify(old.lbPolicy)) {
      // balancers of the new policy are made by the rebuild below
      this.levels = [];
    }
    if (JSON.stringify(config.outlierDetection) !== JSON.stringify(old.outlierDetection)) {
      this.outlier.close();
      this.outlier = createOutlierDetector(config.outlierDetection, { ...this.deps, ejected: this.opts.ejected });
      this.outlier.setHosts(this.hostList);
    }
    const idleMs = this.poolIdleMs();
    this.tlsPolicy = this.makeTlsPolicy(this.tlsPolicy);
    for (const h of this.hostList) {
      h.pool.connectTimeoutMs = config.connectTimeoutMs;
      h.pool.idleTimeoutMs = idleMs;
      h.pool.maxRequestsPerConnection = config.maxRequestsPerConnection ?? 0;
      h.pool.tls = h.endpoint.tls === true ? this.tlsPolicy : null;
      h.pool.setProtocol(config.upstreamProtocol ?? 'http1', config.http2);
    }
    this.rebuild();
  }

  /** The cluster's idle timeout (xDS), but never longer than the runtime's own sweep limit. */
  private poolIdleMs(): number {
    return Math.min(this.config.idleTimeoutMs, this.opts.idleTimeoutMs ?? poolDefaultIdleTimeoutMs);
  }

  updateEndpoints(endpoints: EndpointConfig[]): void {
    const next = new Map<string, ClusterEndpoint>();
    const list: ClusterEndpoint[] = [];
    for (const e of endpoints) {
      const key = `${e.address}:${e.port}`;
      if (next.has(key)) continue;
      let host = this.hostsByKey.get(key);
      if (host) {
        host.endpoint = e;
      } else {
        const pool = new ConnectionPool(e.address, e.port, {
          connectTimeoutMs: this.config.connectTimeoutMs,
          maxIdle: this.opts.maxIdlePerEndpoint,
          idleTimeoutMs: this.poolIdleMs(),
          maxRequestsPerConnection: this.config.maxRequestsPerConnection,
          stats: this.opts.stats,
          responseLimits: this.opts.responseLimits,
          protocol: this.config.upstreamProtocol,
          http2: this.config.http2,
        });
        host = new ClusterEndpoint(e, pool, key);
      }
      host.pool.tls = e.tls === true ? this.tlsPolicy : null;
      next.set(key, host);
      list.push(host);
    }
    for (const [key, host] of this.hostsByKey) {
      if (next.has(key)) continue;
      host.member = false;
      this.retirePool(host.pool);
    }
    this.hostsByKey = next;
    this.hostList = list;
    this.endpointList = endpoints;
    this.outlier.setHosts(list);
    this.rebuild();
  }

  /**
   * The next endpoint to try, or the error to answer with. O(1), allocation-free. A retry may
   * pass the endpoint that just failed as `avoid`: the balancer then draws once more, and only
   * if that lands on it again (a one-host cluster, or bad luck) is it returned anyway.
   */
  pick(avoid?: PickedEndpoint): PickedEndpoint | ProxyError {
    if (this.outlier.tick()) this.rebuild();
    const levels = this.levels;
    if (levels.length === 0) return (failPicker.pick() as { error: ProxyError }).error;
    let level = 0;
    if (levels.length > 1) {
      const r = this.deps.random();
      const cum = this.cumulative;
      while (level < cum.length - 1 && r >= cum[level]) level++;
    }
    const picker = levels[level].balancer.picker;
    let result = picker.pick();
    if (avoid !== undefined && result.kind !== 'fail' && suspect(result as ClusterEndpoint, avoid)) {
      // A retry: draw once more, then try the other levels, before going back to a host that
      // just failed (the one this request tried, or one whose last attempt failed: when a whole
      // zone dies, its hosts fail one after the other before outlier detection ejects them).
      const again = picker.pick();
      if (again.kind !== 'fail' && !suspect(again as ClusterEndpoint, avoid)) result = again;
      else {
        const other = levels.length > 1 ? this.pickOtherLevel(level, avoid) : undefined;
        if (other) result = other;
        else if (again.kind !== 'fail' && (again as unknown) !== avoid) result = again;
      }
    }
    if (result.kind === 'fail' && levels.length > 1) result = this.pickOtherLevel(level, undefined) ?? result;
    return result.kind === 'fail' ? result.error : (result as ClusterEndpoint);
  }

  /** A host another level hands out (in priority order): one that has not just failed if any, else any but `avoid`. */
  private pickOtherLevel(skip: number, avoid: PickedEndpoint | undefined): PickResult | undefined {
    let fallback: PickResult | undefined;
    for (let i = 0; i < this.levels.length; i++) {
      if (i === skip) continue;
      const r = this.levels[i].balancer.picker.pick();
      if (r.kind === 'fail' || (r as unknown) === avoid) continue;
      if (avoid === undefined || !suspect(r as ClusterEndpoint, avoid)) return r;
      fallback ??= r;
    }
    return fallback;
  }

  /** Each priority level with its share of traffic now (admin, tests). */
  get priorityShares(): { priority: number; hosts: number; share: number }[] {
    return this.levels.map((l, i) => ({ priority: l.priority, hosts: l.hosts.length, share: this.cumulative[i] - (i > 0 ? this.cumulative[i - 1] : 0) }));
  }

  attemptStarted(p: PickedEndpoint): void {
    const host = p as ClusterEndpoint;
    host.inFlight++;
    if (this.outlier.attemptStarted(host)) this.rebuild();
  }

  attemptEnded(p: PickedEndpoint, outcome: AttemptOutcome, rttMs: number): void {
    const host = p as ClusterEndpoint;
    if (host.inFlight > 0) host.inFlight--;
    if (outcome !== 'cancelled') {
      // A failure may be fast (a refused connection, an instant 500) and must never make the
      // host look cheaper than it was, or peak-EWMA would pour traffic into a black hole.
      if (outcome !== 'success') rttMs = Math.max(rttMs, this.currentCost(host));
      observeRtt(host, rttMs, this.deps.now(), this.decayMs);
    }
    if (host.member && this.outlier.attemptEnded(host, outcome)) this.rebuild();
  }

  /** A host's decayed RTT estimate in ms now, or null without history (admin, metrics). */
  ewmaMs(host: ClusterEndpoint): number | null {
    return host.hasRtt ? rttCost(host, this.deps.now(), this.decayMs, this.defaultRttMs) : null;
  }

  /** Wall-clock time an ejected host's ejection ends, or null. */
  ejectedUntil(host: ClusterEndpoint): Date | null {
    if (host.outlier === 'active') return null;
    return new Date(Date.now() + Math.max(0, host.ejectedUntilMs - this.deps.now()));
  }

  poolFor(address: string, port: number): ConnectionPool | undefined {
    return this.hostsByKey.get(`${address}:${port}`)?.pool;
  }

  /** Retires every pool; resolves when their last busy socket is gone. */
  retire(): Promise<void> {
    const all = this.hostList.map((h) => {
      h.member = false;
      return this.retirePool(h.pool);
    });
    this.hostsByKey = new Map();
    this.hostList = [];
    this.outlier.close();
    for (const l of this.levels) l.balancer.updateEndpoints([]);
    return Promise.all(all).then(() => undefined);
  }

  private currentCost(host: ClusterEndpoint): number {
    return rttCost(host, this.deps.now(), this.decayMs, this.defaultRttMs);
  }

  private setRttParams(config: ClusterConfig): void {
    const p = config.lbPolicy;
    this.decayMs = p.kind === 'peak-ewma' && p.decayMs > 0 ? p.decayMs : defaultDecayMs;
    this.defaultRttMs = p.kind === 'peak-ewma' && p.defaultRttMs > 0 ? p.defaultRttMs : defaultRttMs;
  }

  /**
   * Hands each level's balancer the hosts pickable now and splits traffic between the levels by
   * their health (locality.ts); runs only when hosts or their state change, never per request.
   * Outlier-ejected hosts count as unhealthy; a probation host waiting for its probe does not.
   */
  private rebuild(): void {
    const byPriority = new Map<number, ClusterEndpoint[]>();
    for (const h of this.hostList) {
      const p = h.endpoint.priority ?? 0;
      let list = byPriority.get(p);
      if (!list) byPriority.set(p, (list = []));
      list.push(h);
    }
    if (byPriority.size === 0) byPriority.set(0, []);
    const priorities = [...byPriority.keys()].sort((a, b) => a - b);
    const old = new Map(this.levels.map((l) => [l.priority, l]));
    const levels: PriorityLevel[] = [];
    const healthy: number[] = [];
    const total: number[] = [];
    for (const p of priorities) {
      const hosts = byPriority.get(p)!;
      const level = old.get(p) ?? { priority: p, balancer: createLoadBalancer(this.config.lbPolicy, this.deps), hosts };
      level.hosts = hosts;
      const pickable: ClusterEndpoint[] = [];
      let up = 0;
      for (const h of hosts) {
        if (h.pickable) pickable.push(h);
        if (h.endpoint.healthy && h.endpoint.weight > 0 && h.outlier !== 'ejected') up++;
      }
      level.balancer.updateEndpoints(pickable);
      levels.push(level);
      healthy.push(up);
      total.push(hosts.length);
    }
    this.levels = levels;
    this.cumulative = levels.length === 1 ? [1] : cumulativeLoads(priorityLoads(healthy, total));
  }

  private retirePool(pool: ConnectionPool): Promise<void> {
    this.retiring.add(pool);
    return pool.retire().then(() => {
      this.retiring.delete(pool);
    });
  }

  closeIdle(): void {
    for (const h of this.hostList) h.pool.closeIdle();
  }

  destroy(): void {
    this.outlier.close();
    for (const h of this.hostList) h.pool.destroy();
    for (const pool of this.retiring) pool.destroy();
    this.retiring.clear();
  }
}
