// TCP connection metrics of both sides of the sidecar: downstream (apps and peers connecting to
// a listener, by direction) and upstream (the sidecar's own connections, by cluster). A socket
// is counted when it opens and when it closes; active counts and bytes are read from the live
// sockets when Prometheus scrapes, so nothing is written per request or per read.
import type { Socket } from 'node:net';
import { ScrapeFamily } from './metric-families.js';

/** The sockets of one label value (a direction or a cluster). */
export class ConnectionTracker {
  openedCount = 0;
  closedCount = 0;
  /** Connections that took their last request under maxRequestsPerConnection (upstream only). */
  maxRequestsCount = 0;
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private readonly live = new Set<Socket>();

  opened(socket: Socket): void {
    this.openedCount++;
    this.live.add(socket);
  }

  closed(socket: Socket): void {
    if (!this.live.delete(socket)) return;
    this.closedCount++;
    this.closedBytesIn += socket.bytesRead;
    this.closedBytesOut += socket.bytesWritten;
  }

  maxRequestsReached(): void {
    this.maxRequestsCount++;
  }

  get active(): number {
    return this.live.size;
  }

  /** Bytes read from the peer, closed connections included. */
  get bytesIn(): number {
    let n = this.closedBytesIn;
    for (const s of this.live) n += s.bytesRead;
    return n;
  }

  /** Bytes written to the peer, closed connections included. */
  get bytesOut(): number {
    let n = this.closedBytesOut;
    for (const s of this.live) n += s.bytesWritten;
    return n;
  }

  /** Counts a socket accepted by a listener until it closes. */
  track(socket: Socket): void {
    this.opened(socket);
    (socket as any)[kTracker] = this;
    socket.once('close', onTrackedClose);
  }
}

const kTracker = Symbol('trellis.connectionTracker');

function onTrackedClose(this: Socket): void {
  ((this as any)[kTracker] as ConnectionTracker).closed(this);
}

export interface ConnectionFamilyNames {
  opened: string;
  closed: string;
  active: string;
  bytesIn: string;
  bytesOut: string;
  /** Upstream: connections closed for maxRequestsPerConnection. */
  maxRequests?: string;
}

/** One side's families over its trackers (one tracker per label value, made on first use). */
export class ConnectionFamilies {
  private readonly trackers = new Map<string, ConnectionTracker>();
  readonly families: readonly ScrapeFamily[];

  constructor(names: ConnectionFamilyNames, side: string, label: string) {
    const family = (name: string, help: string, type: 'counter' | 'gauge', value: (t: ConnectionTracker) => number) =>
      new ScrapeFamily(name, help, type, [label], (emit) => {
        for (const [v, t] of this.trackers) emit(value(t), v);
      });
    const families = [
      family(names.opened, `${side} TCP connections opened.`, 'counter', (x) => x.openedCount),
      family(names.closed, `${side} TCP connections closed.`, 'counter', (x) => x.closedCount),
      family(names.active, `${side} TCP connections open now.`, 'gauge', (x) => x.active),
      family(names.bytesIn, `Bytes the sidecar received on ${side.toLowerCase()} connections (on the wire, TLS included).`, 'counter', (x) => x.bytesIn),
      family(names.bytesOut, `Bytes the sidecar sent on ${side.toLowerCase()} connections (on the wire, TLS included).`, 'counter', (x) => x.bytesOut),
    ];
    if (names.maxRequests !== undefined) {
      families.push(family(names.maxRequests,
        `${side} connections (HTTP/1.1 sockets, HTTP/2 sessions) that carried maxRequestsPerConnection requests and closed after them.`,
        'counter', (x) => x.maxRequestsCount));
    }
    this.families = families;
  }

  tracker(value: string): ConnectionTracker {
    let t = this.trackers.get(value);
    if (t === undefined) {
      t = new ConnectionTracker();
      this.trackers.set(value, t);
    }
    return t;
  }
}
