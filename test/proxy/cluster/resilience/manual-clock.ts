// A clock the test moves by hand: timers fire in due order when advance() passes them.
import type { ResilienceClock } from '../../../../src/proxy/cluster/resilience/resilience-clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: (arg: any) => void;
  arg: unknown;
}

export class ManualClock implements ResilienceClock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  now(): number {
    return this.t;
  }

  setTimer<T>(fn: (arg: T) => void, ms: number, arg: T): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, arg };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.t = next.at;
      next.fn(next.arg);
    }
    this.t = until;
  }
}

/** Deterministic [0, 1) numbers (mulberry32), so percentages and jitter repeat run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
