// Linkerd's retry budget: retries are allowed while the retries in the last window stay within
// max(minRetriesPerSecond × window, ratio × requests in the window). With every endpoint
// failing, retries then add about `ratio` extra load instead of multiplying it by maxRetries.
// The window slides in ten buckets so old traffic ages out smoothly, without a timer.
import type { RetryBudget } from '../../config/proxy-config.js';

const bucketCount = 10;

export class RetryBudgetWindow {
  private readonly requests = new Float64Array(bucketCount);
  private readonly retries = new Float64Array(bucketCount);
  /** The bucket index (time / bucket width) each slot currently holds. */
  private readonly epochs = new Float64Array(bucketCount).fill(-1);
  private bucketMs = 0;

  /** An original request (not a retry) started. */
  recordRequest(config: Readonly<RetryBudget>, now: number): void {
    this.requests[this.slot(config, now)]++;
  }

  /** True, and the retry is counted, when the budget has room for one more retry. */
  tryRetry(config: Readonly<RetryBudget>, now: number): boolean {
    const slot = this.slot(config, now);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < bucketCount; i++) {
      requests += this.requests[i];
      retries += this.retries[i];
    }
    const allowed = Math.max(config.minRetriesPerSecond * (config.windowMs / 1000), config.ratio * requests);
    if (retries + 1 > allowed) return false;
    this.retries[slot]++;
    return true;
  }

  private slot(config: Readonly<RetryBudget>, now: number): number {
    const width = Math.max(1, config.windowMs / bucketCount);
    if (width !== this.bucketMs) {
      // The window changed size: start counting afresh rather than mix bucket widths.
      this.bucketMs = width;
      this.epochs.fill(-1);
      this.requests.fill(0);
      this.retries.fill(0);
    }
    const epoch = Math.floor(now / width);
    const slot = epoch % bucketCount;
    if (this.epochs[slot] !== epoch) {
      // Slots whose epoch fell out of the window are stale; clear each one as it is reused.
      for (let i = 0; i < bucketCount; i++) {
        if (this.epochs[i] !== -1 && epoch - this.epochs[i] >= bucketCount) {
          this.epochs[i] = -1;
          this.requests[i] = 0;
          this.retries[i] = 0;
        }
      }
      this.epochs[slot] = epoch;
      this.requests[slot] = 0;
      this.retries[slot] = 0;
    }
    return slot;
  }
}
