export interface DebounceOptions {
  /** A pass runs once no change came for this long... */
  quietMs: number;
  /** ...or once the first change of the burst has waited this long. */
  maxMs: number;
}

export const defaultDebounce: DebounceOptions = { quietMs: 100, maxMs: 1000 };

/** Coalesces a burst of change notifications into one call, after a quiet period or a maximum wait. */
export class PushDebouncer {
  readonly options: DebounceOptions;
  private timer: NodeJS.Timeout | undefined;
  private firstAt: number | undefined;

  constructor(options: Partial<DebounceOptions>, private readonly run: () => void) {
    this.options = { ...defaultDebounce, ...options };
    if (!(this.options.quietMs >= 0) || !(this.options.maxMs >= this.options.quietMs)) {
      throw new Error(`invalid debounce: the quiet period (--debounce, ${this.options.quietMs} ms) must be at least 0 and at most the longest wait (--debounce-max, ${this.options.maxMs} ms)`);
    }
  }

  schedule(): void {
    const now = performance.now();
    this.firstAt ??= now;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.options.quietMs, this.firstAt + this.options.maxMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.firstAt = undefined;
      this.run();
    }, wait);
  }

  /** A pass is scheduled: changes are waiting to be pushed. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.firstAt = undefined;
  }
}
