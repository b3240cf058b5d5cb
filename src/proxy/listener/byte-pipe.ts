// Two sockets joined into one byte stream each way, for upgraded HTTP connections and TCP
// proxying: backpressure per direction (a full side pauses the other's reads), half-close
// passed on (a FIN from one side ends the other side's writes, and the stream goes on the other
// way until it too ends), an idle timeout over both directions, and a reset on either side
// resets the other. Bytes are counted as they pass, so metrics need no socket bookkeeping.
import type { Socket } from 'node:net';

export interface PipeCounters {
  /** Bytes from the downstream (the side that connected to the sidecar) to the upstream. */
  fromDownstream(n: number): void;
  /** Bytes from the upstream to the downstream. */
  fromUpstream(n: number): void;
}

export type PipeEnd = 'done' | 'idle-timeout' | 'downstream-reset' | 'upstream-reset';

export interface PipeOptions {
  /** Closes both sides after this long without a byte either way; 0 = never. */
  idleTimeoutMs: number;
  counters?: PipeCounters;
  onClose?: (how: PipeEnd) => void;
  /** The downstream already sent its FIN (before the pipe existed): its side is over from the start. */
  downstreamEnded?: boolean;
}

/** Both sockets must have allowHalfOpen set, or a FIN closes their write side too early. */
export class BytePipe {
  private lastActivity = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private downEnded = false;
  private upEnded = false;
  private closed = false;

  constructor(readonly downstream: Socket, readonly upstream: Socket, private readonly opts: PipeOptions) {
    const counters = opts.counters;
    this.downEnded = opts.downstreamEnded === true;
    this.wire(downstream, upstream, counters === undefined ? null : (n) => counters.fromDownstream(n), 'downstream');
    this.wire(upstream, downstream, counters === undefined ? null : (n) => counters.fromUpstream(n), 'upstream');
    if (opts.idleTimeoutMs > 0) this.timer = setTimeout(this.checkIdle, opts.idleTimeoutMs);
    downstream.resume();
    upstream.resume();
  }

  /** Cuts both sides now (a drain that ran out, a config that removed the listener). */
  destroy(): void {
    this.finish('done');
    this.downstream.destroy();
    this.upstream.destroy();
  }

  private wire(from: Socket, to: Socket, count: ((n: number) => void) | null, side: 'downstream' | 'upstream'): void {
    from.on('data', (chunk: Buffer) => {
      this.lastActivity = Date.now();
      if (count !== null) count(chunk.length);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      if (side === 'downstream') this.downEnded = true;
      else this.upEnded = true;
      // the other side may still talk; only its writes towards this side end
      to.end();
      if (this.downEnded && this.upEnded) this.finish('done');
    });
    from.on('error', () => undefined);
    from.on('close', (hadError: boolean) => {
      if (this.closed) return;
      if (hadError || !(side === 'downstream' ? this.downEnded : this.upEnded)) {
        // a reset (or a close without FIN): nothing more can flow either way
        this.finish(side === 'downstream' ? 'downstream-reset' : 'upstream-reset');
        to.destroy();
        return;
      }
      if (to.destroyed) this.finish('done');
    });
  }

  private readonly checkIdle = (): void => {
    this.timer = null;
    if (this.closed) return;
    const idle = Date.now() - this.lastActivity;
    const limit = this.opts.idleTimeoutMs;
    if (idle >= limit) {
      this.finish('idle-timeout');
      this.downstream.destroy();
      this.upstream.destroy();
      return;
    }
    this.timer = setTimeout(this.checkIdle, limit - idle);
  };

  private finish(how: PipeEnd): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.opts.onClose?.(how);
  }
}
