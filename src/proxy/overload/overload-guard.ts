// The sidecar's overload state, shared by all its listeners (Envoy's overload manager, reduced to
// what a sidecar needs): a cap on downstream connections, and a memory guard that sheds new
// requests with 503 `overloaded` while memory is above its threshold, so a flood degrades into
// refusals instead of an out-of-memory crash. Memory is sampled on a timer, never per request:
// the data path reads one boolean.
import v8 from 'node:v8';

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface OverloadGuardOptions {
  /** Downstream connections across all listeners; 0 = no cap. */
  maxConnections: number;
  /** RSS above which requests are shed; 0 = only the heap guard. */
  maxMemoryBytes: number;
  /** How often memory is sampled. */
  sampleIntervalMs?: number;
  /** Memory source; process.memoryUsage by default (tests inject their own). */
  sample?: () => MemorySample;
  /** The V8 heap limit; read from V8 by default. */
  heapLimitBytes?: number;
}

/** Shedding starts at this fraction of V8's heap limit: past it, V8 aborts the process. */
export const heapShedFraction = 0.9;
const defaultSampleIntervalMs = 250;

export type OverloadReason = 'memory' | 'heap';

export class OverloadGuard {
  /** Null while requests are admitted; otherwise which threshold is crossed. */
  shedding: OverloadReason | null = null;
  private connections = 0;
  private readonly heapShedBytes: number;
  private readonly sample: () => MemorySample;
  private timer: NodeJS.Timeout | null = null;
  private last: MemorySample = { rss: 0, heapUsed: 0 };

  constructor(private readonly opts: OverloadGuardOptions) {
    this.heapShedBytes = Math.floor((opts.heapLimitBytes ?? v8.getHeapStatistics().heap_size_limit) * heapShedFraction);
    this.sample = opts.sample ?? sampleProcess;
    this.check();
    this.timer = setInterval(this.check, opts.sampleIntervalMs ?? defaultSampleIntervalMs);
    this.timer.unref();
  }

  /** Counts a new downstream connection until it closes; false (not counted) at the cap. */
  admitConnection(socket: { once(event: 'close', cb: () => void): unknown }): boolean {
    const max = this.opts.maxConnections;
    if (max > 0 && this.connections >= max) return false;
    this.connections++;
    socket.once('close', this.release);
    return true;
  }

  get activeConnections(): number {
    return this.connections;
  }

  /** Samples memory now (the timer does this on its own). */
  readonly check = (): void => {
    const s = this.sample();
    this.last = s;
    const maxRss = this.opts.maxMemoryBytes;
    if (maxRss > 0 && s.rss > maxRss) this.shedding = 'memory';
    else if (s.heapUsed > this.heapShedBytes) this.shedding = 'heap';
    else this.shedding = null;
  };

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** For /config_dump. */
  describe(): Record<string, unknown> {
    return {
      maxConnections: this.opts.maxConnections,
      activeConnections: this.connections,
      maxMemoryBytes: this.opts.maxMemoryBytes,
      heapShedBytes: this.heapShedBytes,
      rssBytes: this.last.rss,
      heapUsedBytes: this.last.heapUsed,
      shedding: this.shedding,
    };
  }

  private readonly release = (): void => {
    this.connections--;
  };
}

function sampleProcess(): MemorySample {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}
