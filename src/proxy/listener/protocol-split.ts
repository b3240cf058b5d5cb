// Which HTTP server gets a connection: a TLS one by its ALPN (h2 or HTTP/1.1), a plaintext one by
// its first bytes (the h2c preface, else HTTP/1). The HTTP/1 server gets the bytes back by
// unshift; the HTTP/2 one by injection into its session (h2-listener.ts).
import type net from 'node:net';
import type tls from 'node:tls';
import { matchPreface } from './h2-preface.js';
import type { H2Listener } from './h2-listener.js';
import type { Http1Server } from './http1/http1-server.js';

/** Without a header timeout on the HTTP/1 server, a client that sends nothing is cut after this long. */
const defaultFirstBytesTimeoutMs = 10_000;

export class ProtocolSplit {
  /** Plaintext connections still being read, closed with the listener. */
  private readonly sniffing = new Set<net.Socket>();

  constructor(private readonly http1: Http1Server, private readonly h2: H2Listener) {}

  readonly accept = (socket: net.Socket): void => {
    if ((socket as tls.TLSSocket).encrypted === true) {
      if ((socket as tls.TLSSocket).alpnProtocol === 'h2') this.h2.accept(socket, null);
      else this.http1.accept(socket);
      return;
    }
    const sniff = new Sniff(this, socket);
    this.sniffing.add(socket);
    socket.on('data', sniff.onData);
    socket.on('error', sniff.onGone);
    socket.on('close', sniff.onGone);
    // the listener's sockets are half-open (for tunnels): a client that leaves before saying
    // anything would otherwise hold its socket, and its connection slot, for good
    socket.on('end', sniff.onEnd);
    // a silent client meets the HTTP/1 server's header timeout, as if it had been handed over at once
    socket.setTimeout(this.http1.headerTimeoutMs > 0 ? this.http1.headerTimeoutMs : defaultFirstBytesTimeoutMs);
    socket.on('timeout', sniff.onTimeout);
  };

  decided(sniff: Sniff, h2: boolean): void {
    const socket = sniff.socket;
    this.sniffing.delete(socket);
    socket.removeListener('data', sniff.onData);
    socket.removeListener('error', sniff.onGone);
    socket.removeListener('close', sniff.onGone);
    socket.removeListener('end', sniff.onEnd);
    socket.removeListener('timeout', sniff.onTimeout);
    socket.setTimeout(0);
    socket.pause();
    const read = sniff.read!;
    if (h2) {
      this.h2.accept(socket, read);
      return;
    }
    socket.unshift(read);
    this.http1.accept(socket);
    socket.resume();
  }

  forget(socket: net.Socket): void {
    this.sniffing.delete(socket);
  }

  /** Nothing came within the header timeout: the HTTP/1 server answers it (408) and counts it. */
  timedOut(sniff: Sniff): void {
    const socket = sniff.socket;
    this.sniffing.delete(socket);
    socket.removeListener('data', sniff.onData);
    socket.removeListener('end', sniff.onEnd);
    socket.removeListener('timeout', sniff.onTimeout);
    socket.setTimeout(0);
    const err = Object.assign(new Error('no request before the header timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    this.http1.clientError(err, socket);
  }

  /** Cuts connections that have not said what they speak yet. */
  close(): void {
    for (const s of this.sniffing) s.destroy();
    this.sniffing.clear();
  }
}

class Sniff {
  read: Buffer | null = null;

  constructor(private readonly split: ProtocolSplit, readonly socket: net.Socket) {}

  readonly onData = (chunk: Buffer): void => {
    this.read = this.read === null ? chunk : Buffer.concat([this.read, chunk]);
    const m = matchPreface(this.read);
    if (m !== 'more') this.split.decided(this, m === 'h2');
  };

  readonly onTimeout = (): void => {
    this.split.timedOut(this);
  };

  readonly onEnd = (): void => {
    this.split.forget(this.socket);
    this.socket.destroy();
  };

  readonly onGone = (): void => {
    this.split.forget(this.socket);
  };
}
