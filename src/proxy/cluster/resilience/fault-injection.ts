// A route's FaultPolicy compiled once: the abort answer is a catalog error made once per
// policy, and each request costs at most two random numbers. Percentages may be fractional
// (0.1 = one request in a thousand).
import type { FaultPolicy } from '../../config/proxy-config.js';
import { faultAbortError, type ProxyError } from '../../errors.js';

export class CompiledFault {
  private readonly delayPercent: number;
  readonly delayMs: number;
  private readonly abortPercent: number;
  readonly abortError: ProxyError | null;

  constructor(policy: FaultPolicy) {
    this.delayPercent = policy.delay ? clampPercent(policy.delay.percent) : 0;
    this.delayMs = policy.delay ? Math.max(0, policy.delay.delayMs) : 0;
    this.abortPercent = policy.abort ? clampPercent(policy.abort.percent) : 0;
    this.abortError = policy.abort ? faultAbortError(policy.abort.httpStatus) : null;
  }

  /** The error to answer with instead of forwarding, or null. */
  abort(random: () => number): ProxyError | null {
    if (this.abortPercent <= 0 || this.abortError === null) return null;
    return random() * 100 < this.abortPercent ? this.abortError : null;
  }

  /** How long to hold the request before forwarding it (0 = not delayed). */
  delay(random: () => number): number {
    if (this.delayPercent <= 0 || this.delayMs <= 0) return 0;
    return random() * 100 < this.delayPercent ? this.delayMs : 0;
  }
}

function clampPercent(p: number): number {
  return Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0;
}
