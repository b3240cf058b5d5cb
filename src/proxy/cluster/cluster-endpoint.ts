// One endpoint of a cluster as the data path sees it: its connection pool plus the state the
// balancers and outlier detection read and write. It lives as long as the endpoint stays in the
// cluster (across config pushes), and it is at once the balancer's pick result and the handle
// the listener passes back to attemptStarted/attemptEnded, so the request path allocates nothing.
import type { EndpointConfig } from '../config/proxy-config.js';
import type { BalancerHost } from './balancer/load-balancer.js';
import type { ConnectionPool } from './pool/connection-pool.js';

/** How one attempt on an endpoint ended, as the listener saw it. */
export type AttemptOutcome = 'success' | 'http-5xx' | 'connect-failure' | 'reset' | 'timeout' | 'cancelled';

/** What the listener may read of a picked endpoint; the rest is the cluster's business. */
export interface PickedEndpoint {
  readonly pool: ConnectionPool;
  readonly endpoint: EndpointConfig;
}

/** Outlier-detection state of a host. */
export type OutlierState = 'active' | 'ejected' | 'probation';

export class ClusterEndpoint implements BalancerHost, PickedEndpoint {
  readonly kind = 'complete' as const;
  inFlight = 0;
  // Peak-EWMA estimate (load-balancer-peak-ewma.ts owns the arithmetic).
  rttMs = 0;
  rttStampMs = 0;
  hasRtt = false;
  // Outlier detection (outlier/outlier-detector-impl.ts owns the rules).
  outlier: OutlierState = 'active';
  /** A probation host's single probe is in flight: not pickable until it ends. */
  probing = false;
  consecutiveFailures = 0;
  ejectedUntilMs = 0;
  /** Ejection multiplier: grows with each ejection, forgiven over healthy time. */
  timesEjected = 0;
  readmittedAtMs = 0;
  // Success-rate window counters.
  windowSuccess = 0;
  windowTotal = 0;
  /** False once the endpoint left the cluster; late attempt results are then ignored. */
  member = true;

  constructor(
    public endpoint: EndpointConfig,
    readonly pool: ConnectionPool,
    readonly key: string,
  ) {}

  /** Whether a balancer may hand this host out now. */
  get pickable(): boolean {
    return this.endpoint.healthy && this.endpoint.weight > 0 && this.outlier !== 'ejected' && !this.probing;
  }

  /** For the admin view: ejected covers a host still on probation, unhealthy is EDS's verdict. */
  get state(): 'healthy' | 'ejected' | 'unhealthy' {
    if (!this.endpoint.healthy) return 'unhealthy';
    return this.outlier === 'active' ? 'healthy' : 'ejected';
  }
}
