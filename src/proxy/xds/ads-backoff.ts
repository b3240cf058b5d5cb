// Reconnect delays: exponential with full jitter (a uniform draw below the exponential bound), so
// that sidecars cut off together by a control-plane restart do not all reconnect at once.
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 250;
    this.maxMs = opts.maxMs ?? 5000;
    this.random = opts.random ?? Math.random;
  }

  /** The next delay in ms; each call doubles the bound up to the cap. */
  next(): number {
    const bound = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * bound);
  }

  /** After a stream that worked, start again from the initial bound. */
  reset(): void {
    this.attempt = 0;
  }
}
