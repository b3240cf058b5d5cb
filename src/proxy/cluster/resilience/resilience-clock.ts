// The one source of time for resilience: timeouts, backoff and the retry budget's window read
// it, so each can be driven by a manual clock in tests instead of sleeping. Timers take their
// argument explicitly (like setTimeout's extra args) so callers pass a method target, not a
// closure made per request.

export interface ResilienceClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  setTimer<T>(fn: (arg: T) => void, ms: number, arg: T): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: ResilienceClock = {
  now: () => performance.now(),
  setTimer: (fn, ms, arg) => setTimeout(fn, ms, arg),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
