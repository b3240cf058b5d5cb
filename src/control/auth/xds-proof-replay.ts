// Certificate proofs on the xDS port are single-use. A proof (certificate, time, signature) is
// accepted while its time is within the skew window of the control plane's clock, so without
// memory a captured proof could open streams for that whole window. Every accepted proof is
// remembered until its time leaves the window (from then on the time check refuses it anyway),
// so memory is bounded by the proofs accepted in one window, and capped.
//
// A proof is known by its certificate and time, not by its signature bytes: an ECDSA signature
// (r, s) has a twin (r, n − s) that verifies just as well, so keying on the signature would let a
// replay through in its other form. The sidecar never signs two proofs with one time
// (src/proxy/xds/ads-credentials.ts), so a legitimate stream never collides with an earlier one.
//
// The memory is per control-plane process: replicas sharing an etcd store do not share it, so a
// proof replayed to another replica within the window is not caught.
import { createHash } from 'node:crypto';

/** More proofs than this inside one window are refused rather than remembered (about 15 MB). */
export const defaultMaxSeenProofs = 100_000;

export type RememberOutcome = 'fresh' | 'replayed' | 'full';

export interface SeenProofsOptions {
  /** How far a proof's time may be from now (the authenticator's skew window). */
  windowMs: number;
  maxEntries?: number;
  now?: () => number;
}

export class SeenProofs {
  /** proof key → the time after which the proof is refused by its timestamp alone */
  private readonly expiries = new Map<string, number>();
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private nextSweepAt = 0;
  /** When full, the next sweep waits this long, so a flood at the cap does not scan the map per stream. */
  private nextFullSweepAt = 0;

  constructor(opts: SeenProofsOptions) {
    this.windowMs = opts.windowMs;
    this.maxEntries = opts.maxEntries ?? defaultMaxSeenProofs;
    this.now = opts.now ?? Date.now;
  }

  /** The key of a proof: its certificate (as sent) and its time. */
  static key(certificateB64: string, timeMs: number): string {
    return createHash('sha256').update(certificateB64).update(`\n${timeMs}`).digest('base64');
  }

  /** Was this proof accepted before (and is it still within its window)? */
  seen(key: string): boolean {
    const expiry = this.expiries.get(key);
    return expiry !== undefined && expiry >= this.now();
  }

  /**
   * Records an accepted proof. 'replayed' when it is already known (two streams raced with the
   * same proof: only the first may pass), 'full' when the cap is reached even after forgetting
   * the expired ones.
   */
  remember(key: string, timeMs: number): RememberOutcome {
    const now = this.now();
    if (now >= this.nextSweepAt || (this.expiries.size >= this.maxEntries && now >= this.nextFullSweepAt)) this.sweep(now);
    if (this.seen(key)) return 'replayed';
    if (this.expiries.size >= this.maxEntries) return 'full';
    this.expiries.set(key, timeMs + this.windowMs);
    return 'fresh';
  }

  get size(): number {
    return this.expiries.size;
  }

  /** Forgets the proofs whose time left the window; runs at most every tenth of a window, or when full. */
  private sweep(now: number): void {
    for (const [key, expiry] of this.expiries) if (expiry < now) this.expiries.delete(key);
    this.nextSweepAt = now + this.windowMs / 10;
    this.nextFullSweepAt = now + 1000;
  }
}
