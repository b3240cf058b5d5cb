// Live request taps: subscribers with filters, each fed NDJSON lines through a bounded buffer.
// While nobody taps, `active` is false and the data path builds no tap event at all. A slow
// consumer never holds requests back: past its buffer, events are dropped and counted, and the
// count goes out as a `{"type":"dropped"}` line once the consumer catches up.
import type { Direction } from './metrics.js';

export interface TapPeer {
  service: string | null;
  /** SPIFFE id when mTLS proved it; null until then. */
  identity: string | null;
  address: string | null;
}

export interface TapEvent {
  type: 'request';
  time: string;
  direction: Direction;
  proxy: string;
  source: TapPeer;
  destination: TapPeer;
  method: string;
  authority: string;
  path: string;
  route: string;
  status: number;
  latencyMs: number;
  /** `address:port` of the endpoint that answered (the last try's); null when none was reached. */
  upstream: string | null;
  error: string | null;
  retries: number;
  traceId: string | null;
}

export interface TapFilter {
  /** Path prefix. */
  path?: string;
  /** `503`, or a class: `5xx`, `4xx`. */
  status?: string;
  direction?: Direction;
  /** Only events whose destination or source service is this (`name` or `name.namespace`). */
  service?: string;
  /** Stop after this many events (0 = no limit). */
  max?: number;
}

/** Where a subscription's lines go: a ServerResponse fits. */
export interface TapOutput {
  write(line: string): boolean;
  end(): void;
  once(event: 'drain', cb: () => void): unknown;
}

export function parseStatusFilter(s: string | undefined): ((status: number) => boolean) | string | null {
  if (s === undefined || s === '') return null;
  const cls = /^([1-5])xx$/i.exec(s);
  if (cls) {
    const c = Number(cls[1]);
    return (status) => Math.floor(status / 100) === c;
  }
  if (/^\d{3}$/.test(s)) {
    const n = Number(s);
    return (status) => status === n;
  }
  return `status must be a code (503) or a class (5xx), got "${s}"`;
}

function serviceMatches(peer: TapPeer, want: string): boolean {
  const s = peer.service;
  if (s === null) return false;
  return s === want || s.startsWith(want + '.');
}

export class TapSubscription {
  sent = 0;
  dropped = 0;
  closed = false;
  private buffered: string[] = [];
  private blocked = false;
  private readonly statusMatch: ((status: number) => boolean) | null;

  constructor(
    private readonly hub: TapHub,
    readonly filter: TapFilter,
    private readonly out: TapOutput,
    private readonly maxBuffered: number,
  ) {
    const m = parseStatusFilter(filter.status);
    if (typeof m === 'string') throw new Error(m);
    this.statusMatch = m;
  }

  matches(ev: TapEvent): boolean {
    const f = this.filter;
    if (f.direction !== undefined && ev.direction !== f.direction) return false;
    if (f.path !== undefined && f.path !== '' && !ev.path.startsWith(f.path)) return false;
    if (this.statusMatch !== null && !this.statusMatch(ev.status)) return false;
    if (f.service !== undefined && f.service !== '' && !serviceMatches(ev.destination, f.service) && !serviceMatches(ev.source, f.service)) return false;
    return true;
  }

  deliver(line: string): void {
    if (this.closed) return;
    this.sent++;
    if (this.blocked) {
      if (this.buffered.length >= this.maxBuffered) {
        this.dropped++;
        this.sent--;
        return;
      }
      this.buffered.push(line);
    } else if (!this.out.write(line)) {
      this.blocked = true;
      this.out.once('drain', () => this.drained());
    }
    const max = this.filter.max ?? 0;
    if (max > 0 && this.sent >= max) this.finish();
  }

  /** Ends the stream (after what is buffered) and leaves the hub. */
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
    if (!this.blocked) this.out.end();
  }

  /** The consumer went away: drop what is buffered. */
  abandon(): void {
    this.buffered = [];
    this.blocked = false;
    if (!this.closed) {
      this.closed = true;
      this.hub.remove(this);
    }
  }

  private drained(): void {
    this.blocked = false;
    const lines = this.buffered;
    this.buffered = [];
    let ok = true;
    for (const l of lines) ok = this.out.write(l) && ok;
    if (this.dropped > 0) {
      ok = this.out.write(`{"type":"dropped","count":${this.dropped}}\n`) && ok;
      this.dropped = 0;
    }
    if (this.closed) {
      this.out.end();
      return;
    }
    if (!ok) {
      this.blocked = true;
      this.out.once('drain', () => this.drained());
    }
  }
}

export class TapHub {
  /** The one check the data path makes per request. */
  active = false;
  private readonly subs = new Set<TapSubscription>();
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly maxBuffered = 1000) {}

  /** Throws on a malformed filter (the admin answers 400). */
  subscribe(filter: TapFilter, out: TapOutput): TapSubscription {
    const sub = new TapSubscription(this, filter, out, this.maxBuffered);
    this.subs.add(sub);
    this.changed();
    return sub;
  }

  remove(sub: TapSubscription): void {
    if (this.subs.delete(sub)) this.changed();
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Called when `active` flips, so the data path's own flags follow. */
  onActiveChange(cb: () => void): void {
    this.listeners.push(cb);
  }

  publish(ev: TapEvent): void {
    let line: string | null = null;
    for (const sub of this.subs) {
      if (!sub.matches(ev)) continue;
      line ??= JSON.stringify(ev) + '\n';
      sub.deliver(line);
    }
  }

  closeAll(): void {
    for (const sub of [...this.subs]) sub.finish();
  }

  private changed(): void {
    const active = this.subs.size > 0;
    if (active === this.active) return;
    this.active = active;
    for (const cb of this.listeners) cb();
  }
}
