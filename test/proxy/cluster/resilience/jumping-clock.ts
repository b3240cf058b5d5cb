// Real time that a test can jump forward. Over real sockets the proxy must measure real RTTs
// (a slow server is slow in real time), while what follows from time passing (peak-EWMA's decay,
// ejections running out) should not need a test that sleeps: advance() skips ahead, firing the
// timers it passes. Jump only while no request is in flight, or its RTT includes the jump.
import type { ResilienceClock } from '../../../../src/proxy/cluster/resilience/resilience-clock.js';

interface Timer {
  at: number;
  fn: (arg: any) => void;
  arg: unknown;
  handle: NodeJS.Timeout;
}

export class JumpingClock implements ResilienceClock {
  private skippedMs = 0;
  private readonly timers = new Set<Timer>();

  now(): number {
    return performance.now() + this.skippedMs;
  }

  setTimer<T>(fn: (arg: T) => void, ms: number, arg: T): unknown {
    const timer: Timer = { at: this.now() + Math.max(0, ms), fn, arg, handle: undefined as unknown as NodeJS.Timeout };
    timer.handle = setTimeout(() => this.fire(timer), Math.max(0, ms));
    this.timers.add(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    const timer = handle as Timer;
    clearTimeout(timer.handle);
    this.timers.delete(timer);
  }

  advance(ms: number): void {
    this.skippedMs += ms;
    const due = [...this.timers].filter((t) => t.at <= this.now()).sort((a, b) => a.at - b.at);
    for (const t of due) this.fire(t);
  }

  private fire(timer: Timer): void {
    if (!this.timers.delete(timer)) return;
    clearTimeout(timer.handle);
    timer.fn(timer.arg);
  }
}
