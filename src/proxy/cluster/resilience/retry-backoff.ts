// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
// Jitter"): a uniformly random wait up to base × 2^n, capped, spreads retries of many clients
// that failed together instead of sending them back in lockstep.

/** Wait before retry number `retryIndex` (0 for the first retry). */
export function backoffMs(retryIndex: number, baseMs: number, maxMs: number, random: () => number): number {
  if (baseMs <= 0) return 0;
  const ceiling = Math.min(maxMs > 0 ? maxMs : Number.POSITIVE_INFINITY, baseMs * 2 ** Math.min(retryIndex, 30));
  return Math.floor(random() * ceiling);
}
