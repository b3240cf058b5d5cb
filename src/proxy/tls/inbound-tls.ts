// The inbound listener's front door when mTLS is on: it reads the first byte of each connection
// (0x16 opens a TLS handshake), terminates TLS with the workload certificate (client certificate
// required and verified against the trust bundle), and hands the decrypted socket, or in
// permissive mode the plaintext one, to the listener's HTTP servers (listener/protocol-split.ts
// picks HTTP/1.1 or HTTP/2 by ALPN or preface). The mode is read per connection, so a new
// MeshConfig applies to the next connection without rebinding.
import net from 'node:net';
import tls from 'node:tls';
import type { ListenerConfig } from '../config/proxy-config.js';
import type { MeshTls } from './mesh-tls.js';
import type { TlsMetrics } from './tls-metrics.js';

const tlsHandshakeByte = 0x16;
/** A peer that connects and sends nothing is cut after this long (the HTTP server's own timeouts start later). */
const firstByteTimeoutMs = 10_000;

export class InboundTlsFront {
  readonly server: net.Server;
  private tlsServer: tls.Server | null = null;
  /** Plaintext connections accepted in permissive mode, cut when the mode turns strict. */
  private readonly plaintext = new Set<net.Socket>();
  private readonly unsubscribe: () => void;

  constructor(
    /** Takes a connection (TLS already terminated) to the HTTP servers. */
    private readonly accept: (socket: net.Socket) => void,
    private readonly tlsConfig: () => ListenerConfig['tls'],
    private readonly meshTls: MeshTls | null,
    private readonly metrics: TlsMetrics,
  ) {
    // half-open like node:http's own server: a tunnelled stream (an upgrade, TCP) may go on one way after a FIN
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, this.onConnection);
    this.unsubscribe = meshTls?.onRotate(this.onRotate) ?? (() => undefined);
  }

  close(): void {
    this.unsubscribe();
  }

  /** The listener's config changed: under strict (or plain HTTP off), no plaintext connection may stay open. */
  configChanged(): void {
    if (this.tlsConfig()?.mode !== 'strict') return;
    for (const s of this.plaintext) s.destroy();
    this.plaintext.clear();
  }

  private readonly onRotate = (): void => {
    // New handshakes use the new certificate at once; sessions already up keep theirs.
    const opts = this.meshTls?.contextOptions;
    if (this.tlsServer && opts) this.tlsServer.setSecureContext(opts);
  };

  private ensureTlsServer(): tls.Server | null {
    if (this.tlsServer) return this.tlsServer;
    const opts = this.meshTls?.contextOptions;
    if (!opts) return null;
    const s = tls.createServer({
      ...opts,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: this.tlsConfig()?.alpn ?? ['http/1.1'],
      handshakeTimeout: firstByteTimeoutMs,
    });
    s.on('secureConnection', this.onSecure);
    s.on('tlsClientError', this.onTlsError);
    this.tlsServer = s;
    return s;
  }

  private readonly onSecure = (socket: tls.TLSSocket): void => {
    (socket.isSessionReused() ? this.metrics.inboundResumed : this.metrics.inboundFull).inc();
    this.accept(socket);
  };

  private readonly onTlsError = (_err: Error, socket: tls.TLSSocket): void => {
    this.metrics.inboundFailures.inc();
    socket.destroy();
  };

  private readonly onConnection = (socket: net.Socket): void => {
    if (!this.tlsConfig()) {
      this.accept(socket);
      return;
    }
    socket.on('error', ignore);
    socket.setTimeout(firstByteTimeoutMs, destroyThis);
    // the front is half-open (for tunnels): a client that leaves before its first byte (a TCP
    // connect, a health check) would otherwise hold its socket and connection slot until the timeout
    socket.once('end', destroyThis);
    socket.once('data', (chunk: Buffer) => this.dispatch(socket, chunk));
  };

  private dispatch(socket: net.Socket, chunk: Buffer): void {
    socket.setTimeout(0);
    socket.removeListener('end', destroyThis);
    socket.pause();
    // The TLS socket and the HTTP server both read what is buffered before reading the handle.
    socket.unshift(chunk);
    const mode = this.tlsConfig()?.mode;
    if (chunk[0] === tlsHandshakeByte) {
      const s = this.ensureTlsServer();
      if (s === null) {
        // no certificate yet (or no identity): nothing to answer a handshake with
        this.metrics.inboundFailures.inc();
        socket.destroy();
        return;
      }
      s.emit('connection', socket);
      return;
    }
    if (mode === 'strict') {
      this.metrics.plaintextStrict.inc();
      socket.destroy();
      return;
    }
    if (mode === 'permissive') {
      this.metrics.plaintextPermissive.inc();
      this.plaintext.add(socket);
      socket.once('close', () => this.plaintext.delete(socket));
    }
    this.accept(socket);
    socket.resume();
  }
}

function ignore(): void {}

function destroyThis(this: net.Socket): void {
  this.destroy();
}
