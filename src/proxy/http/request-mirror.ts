// RequestMirror: a copy of the request goes to another cluster, its response is read and
// dropped. The copy never slows the original: it is sent on its own connection, outside the
// cluster's breaker and balancer bookkeeping, and is cut as soon as its socket pushes back.
import type { ProxyError } from '../errors.js';
import type { BodyFraming, ResponseSink } from '../cluster/pool/upstream-client.js';
import type { UpstreamStream } from '../cluster/pool/upstream-stream.js';
import { isPickError, type Cluster } from '../cluster/cluster.js';

/** Mirrors in flight over all routes; beyond this a copy is skipped rather than queued. */
const maxInFlight = 256;
let inFlight = 0;

export class RequestMirror implements ResponseSink {
  private conn: UpstreamStream | null;
  private done = false;

  private constructor(conn: UpstreamStream) {
    this.conn = conn;
    inFlight++;
  }

  /** Sends the copy's head to one endpoint of `cluster`; null when there is none to send to. */
  static start(cluster: Cluster, head: string, isHead: boolean, framing: BodyFraming): RequestMirror | null {
    if (inFlight >= maxInFlight) return null;
    const p = cluster.pick();
    if (isPickError(p)) return null;
    const conn = p.pool.acquireStream(false);
    const m = new RequestMirror(conn);
    conn.send(shadowHead(head), m, isHead, framing);
    return m;
  }

  static get inFlight(): number {
    return inFlight;
  }

  writeBody(chunk: Buffer): void {
    const c = this.conn;
    // a full socket means the mirror is slower than the original: give the copy up
    if (c !== null && !c.writeBody(chunk)) this.stop(true);
  }

  endBody(rawTrailers: string[] | null): void {
    if (this.conn !== null) this.conn.endBody(rawTrailers);
  }

  /** The original request ended before its body was complete. */
  cancel(): void {
    this.stop(true);
  }

  onUpstreamHead(): void {}
  onUpstreamData(): boolean {
    return true;
  }
  onUpstreamFlush(): boolean {
    return true;
  }
  onUpstreamDrain(): void {}
  onUpstreamEnd(): void {
    this.conn = null;
    this.stop(false);
  }
  onUpstreamError(_e: ProxyError): void {
    this.conn = null;
    this.stop(false);
  }

  private stop(abort: boolean): void {
    if (abort && this.conn !== null) this.conn.abort();
    this.conn = null;
    if (!this.done) {
      this.done = true;
      inFlight--;
    }
  }
}

/** Envoy's convention: the copy's Host gets "-shadow", so the receiver can tell copies apart. */
export function shadowHead(head: string): string {
  return head.replace(/\r\nhost:[ \t]*([^\r:]*|\[[^\]]*\])(:\d+)?\r\n/i, (_m, host: string, port: string | undefined) => `\r\nhost: ${host}-shadow${port ?? ''}\r\n`);
}
