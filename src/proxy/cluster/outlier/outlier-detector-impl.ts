// Envoy-style outlier detection on the sidecar's own observations.
// - Consecutive failures (5xx answers, connect failures, resets, timeouts) ≥ consecutiveFailures
//   eject a host for baseEjectionMs × times ejected, capped at maxEjectionMs, plus up to 10%
//   jitter so hosts ejected together do not come back together.
// - Never more than maxEjectionPercent of the cluster's hosts are out at once (at least one may
//   always be, as in Envoy), and never the last healthy one: a cluster that only has bad hosts
//   still answers from them rather than failing every request.
// - When the ejection runs out the host goes on probation: it is pickable again for exactly one
//   attempt (its probe). The probe's success readmits it; its failure ejects it again at once.
//   Its RTT history is dropped so peak-EWMA tries it at the default RTT instead of its old peak.
// - The ejection multiplier is forgiven by one for each intervalMs the host stays healthy after
//   readmission (Envoy decrements it on each interval tick).
// - Optional success-rate ejection every intervalMs (Envoy's rule): among hosts with at least
//   requestVolume attempts in the interval, when at least minimumHosts qualify, a host whose
//   success rate is below mean − stdevFactor × stdev is ejected.
// Readmission is checked lazily at pick time (one comparison while nothing is ejected), so the
// rules run on the injected clock and tests need no timers.
import type { OutlierDetection } from '../../config/proxy-config.js';
import type { AttemptOutcome, ClusterEndpoint } from '../cluster-endpoint.js';
import { isFailure, type EjectionReason, type OutlierDetector, type OutlierDetectorDeps } from './outlier-detector.js';

/** Jitter added to an ejection, as a share of its length. */
export const ejectionJitter = 0.1;

export class OutlierDetectorImpl implements OutlierDetector {
  private hosts: readonly ClusterEndpoint[] = [];
  /** Earliest end of a running ejection; Infinity while none runs. */
  private nextReadmitMs = Infinity;
  /** Set when the success-rate sweep ejected someone outside a cluster call. */
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly config: OutlierDetection,
    private readonly deps: OutlierDetectorDeps,
    /** Tests run the success-rate sweep by hand on their clock. */
    sweepTimer = true,
  ) {
    if (config.successRate !== undefined && sweepTimer && config.intervalMs > 0) {
      this.timer = setInterval(sweepNow, config.intervalMs, this);
      this.timer.unref();
    }
  }

  setHosts(hosts: readonly ClusterEndpoint[]): void {
    this.hosts = hosts;
    this.recomputeNextReadmit();
  }

  tick(): boolean {
    if (this.nextReadmitMs === Infinity && !this.dirty) return false;
    let changed = this.dirty;
    this.dirty = false;
    if (this.nextReadmitMs <= this.deps.now()) changed = this.readmitDue() || changed;
    return changed;
  }

  attemptStarted(host: ClusterEndpoint): boolean {
    if (host.outlier !== 'probation' || host.probing) return false;
    host.probing = true;
    return true;
  }

  attemptEnded(host: ClusterEndpoint, outcome: AttemptOutcome): boolean {
    if (outcome === 'cancelled') {
      // The probe told nothing: the host stays on probation, pickable for another probe.
      if (!host.probing) return false;
      host.probing = false;
      return true;
    }
    host.windowTotal++;
    if (!isFailure(outcome)) {
      host.windowSuccess++;
      host.consecutiveFailures = 0;
      if (host.outlier !== 'probation') return false;
      host.outlier = 'active';
      host.probing = false;
      host.readmittedAtMs = this.deps.now();
      return true;
    }
    if (host.outlier === 'probation') {
      this.eject(host, 'probe-failure', this.deps.now());
      return true;
    }
    if (host.outlier === 'ejected') return false;
    host.consecutiveFailures++;
    const limit = this.config.consecutiveFailures;
    if (limit <= 0 || host.consecutiveFailures < limit) return false;
    return this.tryEject(host, 'consecutive-failures');
  }

  /** Success-rate ejection over the interval that just ended; resets the window counters. */
  sweep(): void {
    const sr = this.config.successRate;
    if (sr === undefined) return;
    const rates: number[] = [];
    const qualified: ClusterEndpoint[] = [];
    for (const h of this.hosts) {
      if (h.outlier === 'active' && h.windowTotal >= sr.requestVolume) {
        qualified.push(h);
        rates.push(h.windowSuccess / h.windowTotal);
      }
      h.windowSuccess = 0;
      h.windowTotal = 0;
    }
    if (qualified.length < sr.minimumHosts || qualified.length === 0) return;
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    const variance = rates.reduce((a, r) => a + (r - mean) ** 2, 0) / rates.length;
    const threshold = mean - sr.stdevFactor * Math.sqrt(variance);
    for (let i = 0; i < qualified.length; i++) {
      if (rates[i] < threshold && this.tryEject(qualified[i], 'success-rate')) this.dirty = true;
    }
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Ejects unless the max-ejection-percent or last-healthy-host rule forbids it. */
  private tryEject(host: ClusterEndpoint, reason: EjectionReason): boolean {
    let healthy = 0;
    let ejected = 0;
    for (const h of this.hosts) {
      if (!h.endpoint.healthy) continue;
      healthy++;
      if (h.outlier !== 'active') ejected++;
    }
    const maxEjected = Math.max(1, Math.floor((healthy * this.config.maxEjectionPercent) / 100));
    if (ejected >= maxEjected || healthy - ejected <= 1) return false;
    const now = this.deps.now();
    if (host.timesEjected > 0 && this.config.intervalMs > 0) {
      const forgiven = Math.floor((now - host.readmittedAtMs) / this.config.intervalMs);
      host.timesEjected = Math.max(0, host.timesEjected - forgiven);
    }
    this.eject(host, reason, now);
    return true;
  }

  private eject(host: ClusterEndpoint, reason: EjectionReason, now: number): void {
    host.timesEjected++;
    const { baseEjectionMs, maxEjectionMs } = this.config;
    const length = Math.min(baseEjectionMs * host.timesEjected, Math.max(maxEjectionMs, baseEjectionMs));
    host.outlier = 'ejected';
    host.probing = false;
    host.consecutiveFailures = 0;
    host.ejectedUntilMs = now + length * (1 + ejectionJitter * this.deps.random());
    if (host.ejectedUntilMs < this.nextReadmitMs) this.nextReadmitMs = host.ejectedUntilMs;
    this.deps.ejected?.(reason);
  }

  private readmitDue(): boolean {
    const now = this.deps.now();
    let changed = false;
    for (const h of this.hosts) {
      if (h.outlier === 'ejected' && h.ejectedUntilMs <= now) {
        h.outlier = 'probation';
        h.probing = false;
        h.hasRtt = false;
        changed = true;
      }
    }
    this.recomputeNextReadmit();
    return changed;
  }

  private recomputeNextReadmit(): void {
    let next = Infinity;
    for (const h of this.hosts) if (h.outlier === 'ejected' && h.ejectedUntilMs < next) next = h.ejectedUntilMs;
    this.nextReadmitMs = next;
  }
}

function sweepNow(d: OutlierDetectorImpl): void {
  d.sweep();
}
