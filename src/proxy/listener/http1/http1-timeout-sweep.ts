// One sweep checks the header, idle and stream idle timeouts of every HTTP/1 connection in the
// process, against the exact times of their last bytes, instead of timers re-armed on each
// request (node:http re-arms the socket timeout twice per request). Connections are checked in
// the order they were opened, so of two that went quiet together (a sidecar's outbound and
// inbound in one process) the older one's timeout is the one that fires. A timeout fires between
// its deadline and one sweep period later: a quarter of the shortest timeout, from 50 ms to 1 s.

/** A connection the sweep checks. */
export interface TimedConnection {
  checkTimeouts(now: number): void;
}

class TimeoutSweep {
  private readonly connections = new Set<TimedConnection>();
  /** The sweep period each running server asks for; the sweep runs at the shortest. */
  private readonly periods = new Map<object, number>();
  private timer: NodeJS.Timeout | null = null;
  private period = 0;

  join(server: object, timeoutsMs: readonly number[]): void {
    const shortest = Math.min(...timeoutsMs.filter((t) => t > 0), 4000);
    this.periods.set(server, Math.max(50, Math.min(1000, Math.floor(shortest / 4))));
    this.reschedule();
  }

  leave(server: object): void {
    this.periods.delete(server);
    this.reschedule();
  }

  add(c: TimedConnection): void {
    this.connections.add(c);
  }

  delete(c: TimedConnection): void {
    this.connections.delete(c);
  }

  private reschedule(): void {
    const period = this.periods.size === 0 ? 0 : Math.min(...this.periods.values());
    if (period === this.period) return;
    this.period = period;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (period === 0) return;
    this.timer = setInterval(this.tick, period);
    this.timer.unref();
  }

  private readonly tick = (): void => {
    const now = Date.now();
    for (const c of this.connections) c.checkTimeouts(now);
  };
}

export const timeoutSweep = new TimeoutSweep();
