// A raw HTTP/1 client for conformance tests: it writes exact bytes on one connection and reads
// the responses back one at a time with its own small parser (not Node's, which the sidecar also
// uses), keeping what went over the wire: the status line as sent, header names in their case
// and order, chunked or not, trailers, and whether the server closed the connection.
import net from 'node:net';
import { withTimeout } from '../proxy-test-support.js';

export interface WireResponse {
  /** As sent, e.g. `HTTP/1.1 299 Custom Reason`. */
  statusLine: string;
  status: number;
  /** Header fields as sent: name case and order kept, repeated fields apart. */
  headers: Array<[string, string]>;
  /** The body with any chunked framing removed. */
  body: Buffer;
  chunked: boolean;
  /** The body ran until the server closed the connection (no length, no chunks). */
  closeDelimited: boolean;
  /** The trailer fields of a chunked body, as sent. */
  trailers: Array<[string, string]>;
}

/** The value of the first header `name` (any case), or undefined. */
export function headerOf(r: WireResponse, name: string): string | undefined {
  const n = name.toLowerCase();
  return r.headers.find(([k]) => k.toLowerCase() === n)?.[1];
}

/** Every value of header `name` (any case), in order. */
export function headersOf(r: WireResponse, name: string): string[] {
  const n = name.toLowerCase();
  return r.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

const crlf = Buffer.from('\r\n');
const endOfHead = Buffer.from('\r\n\r\n');

export class WireClient {
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.notify();
    });
    socket.on('end', () => {
      this.eof = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.notify();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(address: string, port: number): Promise<WireClient> {
    return withTimeout(new Promise<WireClient>((resolve, reject) => {
      const s = net.connect({ host: address, port, noDelay: true });
      s.once('connect', () => resolve(new WireClient(s)));
      s.once('error', reject);
    }), 3000, `connect to ${address}:${port}`);
  }

  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Writes `bytes` and waits until the socket could take more (backpressure for big bodies). */
  async writeDrained(bytes: Buffer): Promise<void> {
    if (!this.socket.write(bytes)) await new Promise((resolve) => this.socket.once('drain', resolve));
  }

  /**
   * The next response on the connection (a 1xx is one too). `head`: it answers a HEAD request,
   * so it has no body whatever its headers say.
   */
  response(opts: { head?: boolean } = {}, timeoutMs = 5000): Promise<WireResponse> {
    return withTimeout(this.readResponse(opts.head === true), timeoutMs, 'an HTTP/1 response');
  }

  /** Resolves once the server has closed the connection; the bytes it sent that no response took. */
  async serverClosed(timeoutMs = 3000): Promise<string> {
    await withTimeout(this.until(() => this.eof || this.error !== null), timeoutMs, 'the server to close the connection');
    return this.take(this.buf.length).toString('latin1');
  }

  /** Raw bytes (after an upgrade) until they contain `text`; returns all of them. */
  async readUntil(text: string, timeoutMs = 3000): Promise<string> {
    const want = Buffer.from(text, 'latin1');
    await withTimeout(this.until(() => this.buf.includes(want), true), timeoutMs, `bytes ${JSON.stringify(text)}`);
    const end = this.buf.indexOf(want) + want.length;
    return this.take(end).toString('latin1');
  }

  /** True when nothing arrived and the connection is still open after `ms`. */
  async quietFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf.length === 0 && !this.eof && this.error === null;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits for `ready`; an EOF or a socket error first is a failure unless `failOnEnd` is false. */
  private async until(ready: () => boolean, failOnEnd = false): Promise<void> {
    while (!ready()) {
      if (failOnEnd && (this.eof || this.error !== null)) {
        throw new Error(`connection ended (${this.error?.message ?? 'EOF'}) with ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))} unread`);
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next CRLF-terminated line (without the CRLF). */
  private async line(): Promise<string> {
    await this.until(() => this.buf.includes(crlf), true);
    const line = this.take(this.buf.indexOf(crlf)).toString('latin1');
    this.take(2);
    return line;
  }

  private async fields(): Promise<Array<[string, string]>> {
    const out: Array<[string, string]> = [];
    for (let l = await this.line(); l !== ''; l = await this.line()) {
      const colon = l.indexOf(':');
      if (colon <= 0) throw new Error(`not a header field: ${JSON.stringify(l)}`);
      out.push([l.slice(0, colon), l.slice(colon + 1).trim()]);
    }
    return out;
  }

  private async readResponse(head: boolean): Promise<WireResponse> {
    await this.until(() => this.buf.includes(endOfHead), true);
    const statusLine = await this.line();
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
    if (m === null) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = await this.fields();
    const r: WireResponse = { statusLine, status, headers, body: Buffer.alloc(0), chunked: false, closeDelimited: false, trailers: [] };
    if (head || status < 200 || status === 204 || status === 304) return r;
    const parts: Buffer[] = [];
    const te = headerOf(r, 'transfer-encoding');
    const cl = headerOf(r, 'content-length');
    if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw new Error(`unexpected transfer-encoding: ${te}`);
      r.chunked = true;
      for (;;) {
        const sizeLine = await this.line();
        const size = parseInt(sizeLine, 16);
        if (!/^[0-9a-fA-F]+/.test(sizeLine) || Number.isNaN(size)) throw new Error(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
        if (size === 0) break;
        await this.bytesInto(parts, size);
        if ((await this.line()) !== '') throw new Error('chunk data not followed by CRLF');
      }
      r.trailers = await this.fields();
    } else if (cl !== undefined) {
      await this.bytesInto(parts, Number(cl));
    } else {
      r.closeDelimited = true;
      await this.until(() => this.eof || this.error !== null);
      parts.push(this.take(this.buf.length));
    }
    r.body = Buffer.concat(parts);
    return r;
  }

  /** Moves `n` body bytes into `parts` as they arrive (so a big body is never copied whole per read). */
  private async bytesInto(parts: Buffer[], n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      await this.until(() => this.buf.length > 0, true);
      const piece = this.take(Math.min(left, this.buf.length));
      parts.push(Buffer.from(piece));
      left -= piece.length;
    }
  }
}
