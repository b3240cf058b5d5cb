import { rssBytes } from './bench-proc.js';

const sampleEveryMs = 200;

/** Peak summed RSS of a set of processes, sampled every 200 ms until stopped. */
export class RssPeakSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: readonly number[]) {
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleEveryMs);
  }

  /** Stops sampling and returns the peak in bytes (0 without pids). */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    if (this.pids.length === 0) return;
    const rss = rssBytes(this.pids);
    if (rss > this.peak) this.peak = rss;
  }
}
