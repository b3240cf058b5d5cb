// A ResponseSink for the pool tests: records one exchange (head, body, trailers, error).
import type { ResponseSink } from '../../../../src/proxy/cluster/pool/upstream-client.js';
import type { ProxyError } from '../../../../src/proxy/errors.js';
import { withTimeout } from '../../proxy-test-support.js';

/** Records one exchange; `done` settles on end or error. */
export class CollectSink implements ResponseSink {
  status = 0;
  headers: string[] = [];
  chunks: Buffer[] = [];
  trailers: string[] | null = null;
  error: ProxyError | null = null;
  detail = '';
  retryable = false;
  heads = 0;
  pauseAfterFirst = false;
  drains = 0;
  private resolve!: () => void;
  private readonly settled = new Promise<void>((r) => (this.resolve = r));
  /** Bounded wait for the end of the exchange (the timer starts only when a test waits). */
  get done(): Promise<void> {
    return withTimeout(this.settled, 5000, 'exchange');
  }
  onUpstreamHead(status: number, _msg: string, raw: string[]): void {
    this.heads++;
    this.status = status;
    this.headers = raw;
  }
  onUpstreamData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return !(this.pauseAfterFirst && this.chunks.length === 1);
  }
  onUpstreamEnd(trailers: string[] | null): void {
    this.trailers = trailers;
    this.resolve();
  }
  onUpstreamError(error: ProxyError, detail: string, retryable: boolean): void {
    this.error = error;
    this.detail = detail;
    this.retryable = retryable;
    this.resolve();
  }
  onUpstreamFlush(): boolean {
    return true;
  }
  onUpstreamDrain(): void {
    this.drains++;
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i].toLowerCase() === name) return this.headers[i + 1];
    return undefined;
  }
}
