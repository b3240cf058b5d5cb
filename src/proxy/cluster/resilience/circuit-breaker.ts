// Envoy's per-cluster circuit breakers: counters of active requests, pending requests, active
// retries and open connections, each checked against the cluster's current limits (read from
// its config on every check, so a pushed change applies to the next request). Over a limit the
// caller answers at once or skips the retry: nothing here queues without bound.
import type { CircuitBreakers } from '../../config/proxy-config.js';

/** Label of trellis_circuit_breaker_rejections_total. */
export type BreakerLimit = 'connections' | 'pending' | 'requests' | 'retries';

/** A request waiting for a connection slot; woken at most once per enqueue. */
export interface PendingWaiter {
  connectionAvailable(): void;
}

/** What the pool asks before opening a connection and tells when one closes or idles. */
export interface ConnectionLimiter {
  tryOpenConnection(): boolean;
  connectionClosed(): void;
  connectionIdle(): void;
}

/** A pool the breaker may ask to close an idle socket so a busy endpoint can open one. */
export interface IdleEvictable {
  closeOldestIdle(): boolean;
}

export class CircuitBreaker implements ConnectionLimiter {
  activeRequests = 0;
  activeRetries = 0;
  connections = 0;
  /** FIFO of waiters; `head` advances instead of shifting, compacted when it drains. */
  private pending: Array<PendingWaiter | null> = [];
  private head = 0;
  private pendingCount = 0;
  private readonly pools = new Set<IdleEvictable>();
  /** Set while closing an idle socket for a new one, so its slot is not handed to a waiter. */
  private evicting = false;

  constructor(private readonly limits: () => Readonly<CircuitBreakers>) {}

  get pendingRequests(): number {
    return this.pendingCount;
  }

  tryStartRequest(): boolean {
    if (this.activeRequests >= this.limits().maxRequests) return false;
    this.activeRequests++;
    return true;
  }

  endRequest(): void {
    this.activeRequests--;
  }

  tryStartRetry(): boolean {
    if (this.activeRetries >= this.limits().maxRetries) return false;
    this.activeRetries++;
    return true;
  }

  endRetry(): void {
    this.activeRetries--;
  }

  /** A pool of this cluster opens connections through this breaker. */
  track(pool: IdleEvictable): void {
    this.pools.add(pool);
  }

  untrack(pool: IdleEvictable): void {
    this.pools.delete(pool);
  }

  tryOpenConnection(): boolean {
    const max = this.limits().maxConnections;
    if (this.connections < max) {
      this.connections++;
      return true;
    }
    // At the limit an idle socket to another endpoint is worth less than a new one here.
    this.evicting = true;
    try {
      for (const pool of this.pools) {
        if (pool.closeOldestIdle() && this.connections < max) {
          this.connections++;
          return true;
        }
      }
    } finally {
      this.evicting = false;
    }
    return false;
  }

  connectionClosed(): void {
    this.connections--;
    if (!this.evicting) this.wakeOne();
  }

  connectionIdle(): void {
    this.wakeOne();
  }

  /** Queues a request for a connection slot; false when the pending limit is reached. */
  enqueue(waiter: PendingWaiter): boolean {
    if (this.pendingCount >= this.limits().maxPendingRequests) return false;
    this.pending.push(waiter);
    this.pendingCount++;
    return true;
  }

  /** A waiter that gave up (timeout, client gone); O(n) but only on that failure path. */
  remove(waiter: PendingWaiter): void {
    const i = this.pending.indexOf(waiter, this.head);
    if (i === -1) return;
    this.pending[i] = null;
    this.pendingCount--;
  }

  private wakeOne(): void {
    while (this.head < this.pending.length) {
      const w = this.pending[this.head];
      this.pending[this.head++] = null;
      if (w === null) continue;
      this.pendingCount--;
      if (this.head === this.pending.length) this.compact();
      w.connectionAvailable();
      return;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    }
  }
}
