// HTTP/1.1 upgrades (WebSocket, h2c, any `Upgrade:` token) through the sidecar. The listener
// routes and authorizes the upgrade request like any request; this file takes it from there:
// one endpoint is picked (per request, by the cluster's balancer), a connection of its own is
// opened (mTLS to a peer sidecar with ALPN http/1.1, plaintext to the local app), the request
// goes out with its Upgrade and `connection: upgrade`, and then
//   - a 101 is relayed as received, and the two connections become one byte stream each way
//     (byte-pipe.ts: backpressure, half-close, idle timeout);
//   - any other answer is relayed as a normal response, and the downstream connection closes
//     after it (the client asked for a protocol switch; it gets the refusal and a clean end).
// Why a dedicated HTTP/1.1 connection even when the sidecars talk h2 to each other: the
// upgraded stream owns its connection for its whole life, so the bytes go socket to socket with
// TCP's flow control and half-close, and the peer's inbound hands the same HTTP/1.1 upgrade to
// the app (no translation to and from extended CONNECT); the cost is one handshake per upgrade,
// resumed from the endpoint's TLS session ticket.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { errorHeader, errors, type ProxyError } from '../errors.js';
import { isPickError, type PickedEndpoint } from '../cluster/cluster.js';
import { responseHeaders } from '../http/forward-headers.js';
import type { Direction } from '../telemetry/metrics.js';
import type { StreamMetrics } from '../telemetry/stream-metrics.js';
import { upgradeProtocolLabel } from '../telemetry/stream-metrics.js';
import { BytePipe } from './byte-pipe.js';
import { TCP_IDLE_TIMEOUT_MS } from './tcp-defaults.js';
import type { ExchangeTarget } from './http-exchange.js';
import { downstreamClosedStatus } from './http-exchange.js';
import { releaseParser } from '../http/http1-parser-release.js';

const require = createRequire(import.meta.url);
// The parser Node's own http client uses (upstream-client.ts explains the callbacks). Returning 2
// from kOnHeadersComplete stops after the head, and execute() returns how many bytes it took.
const { HTTPParser } = require('_http_common') as { HTTPParser: any };

/** Envoy's tcp_proxy default; an upgraded stream with no byte either way for this long is closed. */
export const upgradeIdleTimeoutMs = TCP_IDLE_TIMEOUT_MS;

/** A proxy error as a complete raw HTTP/1.1 response that closes the connection. */
export function rawErrorResponse(error: ProxyError): string {
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(error.body)}\r\n${errorHeader}: ${error.name}\r\nconnection: close\r\n\r\n${error.body}`;
}

/** Every upgraded stream of one listener, so a drain can cut what is left. */
export class UpgradeStreams {
  private readonly open = new Set<BytePipe | UpgradeExchange>();

  constructor(readonly direction: Direction, readonly metrics: StreamMetrics, readonly idleTimeoutMs = upgradeIdleTimeoutMs) {}

  /**
   * Forwards one routed upgrade request. `requestHead` is the head the listener built for the
   * upstream (hop-by-hop headers removed); the Upgrade and Connection headers are added here.
   * `early` holds the bytes the client sent after its head, before any answer.
   */
  start(req: IncomingMessage, socket: Socket, early: Buffer, target: ExchangeTarget, requestHead: string, startNs: bigint): void {
    const ex = new UpgradeExchange(this, req, socket, early, target, requestHead, startNs);
    this.open.add(ex);
    ex.begin();
  }

  /** Answers an upgrade request the listener refused itself (no route, unauthorized, draining). */
  refuse(req: IncomingMessage, socket: Socket, error: ProxyError): void {
    this.metrics.upgradeResult(this.direction, upgradeProtocolLabel(req.headers.upgrade), 'failed');
    socket.end(rawErrorResponse(error));
  }

  track(s: BytePipe | UpgradeExchange): void {
    this.open.add(s);
  }

  untrack(s: BytePipe | UpgradeExchange): void {
    this.open.delete(s);
  }

  get size(): number {
    return this.open.size;
  }

  /** Cuts every upgraded stream (the end of a drain). */
  destroyAll(): void {
    for (const s of [...this.open]) s.destroy();
    this.open.clear();
  }
}

class UpgradeExchange {
  private upstream: Socket | null = null;
  private picked: PickedEndpoint | null = null;
  private admitted = false;
  private finished = false;
  private connectTimer: NodeJS.Timeout | null = null;
  private connected = false;
  private parser: any = null;
  private status = 0;
  private attemptStart = 0;
  private readonly protocol: string;

  constructor(
    private readonly owner: UpgradeStreams,
    private readonly req: IncomingMessage,
    private readonly downstream: Socket,
    private readonly early: Buffer,
    private readonly target: ExchangeTarget,
    private readonly requestHead: string,
    private readonly startNs: bigint,
  ) {
    this.protocol = upgradeProtocolLabel(req.headers.upgrade);
    // Nothing is read from the client until the upstream said yes (or no).
    downstream.pause();
    downstream.on('error', ignore);
    downstream.once('close', this.onDownstreamClose);
  }

  begin(): void {
    const r = this.target.resilience;
    if (!r.breaker.tryStartRequest()) {
      r.stats.rejections.requests.value++;
      this.fail(errors.overloaded);
      return;
    }
    this.admitted = true;
    const cluster = this.target.cluster;
    const p = cluster.pick();
    if (isPickError(p)) {
      this.fail(p);
      return;
    }
    cluster.attemptStarted(p);
    this.picked = p;
    this.attemptStart = Date.now();
    const { socket, secure } = p.pool.openTunnel();
    this.upstream = socket;
    socket.on(secure ? 'secureConnect' : 'connect', this.onConnect);
    socket.on('error', this.onUpstreamError);
    socket.on('close', this.onUpstreamClose);
    socket.on('data', this.onUpstreamData);
    const ms = cluster.config.connectTimeoutMs;
    if (ms > 0) this.connectTimer = setTimeout(this.onConnectTimeout, ms);
    const upgrade = this.req.headers.upgrade ?? '';
    // the listener's head ends with the blank line; the upgrade headers go just before it
    socket.write(this.requestHead.slice(0, -2) + `upgrade: ${upgrade}\r\nconnection: upgrade\r\n\r\n`, 'latin1');
    if (this.early.length > 0) socket.write(this.early);
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {});
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.onBody;
    parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    this.parser = parser;
  }

  destroy(): void {
    this.upstream?.destroy();
    this.downstream.destroy();
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    this.clearConnectTimer();
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.finished) return;
    this.target.resilience.stats.timeouts.connect.value++;
    this.endAttempt('connect-failure');
    this.upstream?.destroy();
    this.fail(errors.connectTimeout);
  };

  private readonly onUpstreamError = (): void => {
    // 'close' follows and decides
  };

  private readonly onUpstreamClose = (): void => {
    if (this.finished) return;
    if (this.status >= 200) {
      // a refusal relayed without a length ends when the upstream closes
      this.parser?.finish();
      this.complete();
      return;
    }
    this.endAttempt(this.connected ? 'reset' : 'connect-failure');
    this.fail(this.connected ? errors.upstreamReset : errors.upstreamConnect);
  };

  private readonly onDownstreamClose = (): void => {
    if (this.finished) return;
    this.endAttempt('cancelled');
    this.upstream?.destroy();
    this.finish(downstreamClosedStatus, null);
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    const parser = this.parser;
    if (parser === null) return;
    const ret = parser.execute(chunk);
    if (ret instanceof Error) {
      this.endAttempt('reset');
      this.upstream?.destroy();
      if (this.status === 0) this.fail(errors.upstreamReset);
      else this.downstream.destroy();
      return;
    }
    if (this.status === 101 && !this.finished) this.switched(chunk.subarray(ret as number));
  };

  private readonly onHeadersComplete = (
    _major: number, _minor: number, headers: string[], _method: unknown, _url: unknown, status: number, statusMessage: string,
  ): number => {
    if (status < 200 && status !== 101) return 0; // 100 Continue and the like: not relayed
    this.status = status;
    let head = `HTTP/1.1 ${status} ${statusMessage || STATUS_CODES[status] || ''}\r\n`;
    if (status === 101) {
      // relayed as received: Upgrade, Connection and the protocol's own headers (Sec-WebSocket-Accept)
      for (let i = 0; i + 1 < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
      this.downstream.write(head + '\r\n', 'latin1');
      return 2;
    }
    const out = responseHeaders(headers, true);
    for (let i = 0; i + 1 < out.length; i += 2) head += `${out[i]}: ${out[i + 1]}\r\n`;
    this.downstream.write(head + '\r\n', 'latin1');
    this.endAttempt(status >= 500 ? 'http-5xx' : 'success');
    return 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    if (!this.downstream.write(chunk)) {
      const up = this.upstream!;
      up.pause();
      this.downstream.once('drain', () => up.resume());
    }
  };

  private readonly onMessageComplete = (): void => {
    if (this.status >= 200) this.complete();
  };

  /** A non-101 answer was relayed whole: close both connections. */
  private complete(): void {
    if (this.finished) return;
    this.owner.metrics.upgradeResult(this.owner.direction, this.protocol, 'refused');
    this.downstream.end();
    this.upstream?.destroy();
    this.finish(this.status, null);
  }

  private switched(rest: Buffer): void {
    const up = this.upstream!;
    up.removeListener('data', this.onUpstreamData);
    up.removeListener('close', this.onUpstreamClose);
    this.downstream.removeListener('close', this.onDownstreamClose);
    releaseParser(this.parser);
    this.parser = null;
    this.endAttempt('success');
    if (rest.length > 0) this.downstream.write(rest);
    const owner = this.owner;
    const cells = owner.metrics.upgradeStream(owner.direction, this.protocol);
    owner.metrics.upgradeResult(owner.direction, this.protocol, 'switched');
    cells.active.inc();
    this.finish(101, null);
    const pipe: BytePipe = new BytePipe(this.downstream, up, {
      idleTimeoutMs: owner.idleTimeoutMs,
      counters: cells,
      onClose: (how) => {
        cells.closed(how);
        owner.untrack(pipe);
      },
    });
    owner.track(pipe);
  }

  private endAttempt(outcome: 'success' | 'http-5xx' | 'connect-failure' | 'reset' | 'cancelled'): void {
    this.clearConnectTimer();
    const p = this.picked;
    if (p === null) return;
    this.picked = null;
    this.target.cluster.attemptEnded(p, outcome, Date.now() - this.attemptStart);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  private fail(error: ProxyError): void {
    if (this.finished) return;
    this.owner.metrics.upgradeResult(this.owner.direction, this.protocol, 'failed');
    this.downstream.end(rawErrorResponse(error));
    this.finish(error.status, error);
  }

  /** The request's part is over (a stream may go on): counters and the breaker's request slot. */
  private finish(status: number, error: ProxyError | null): void {
    this.finished = true;
    if (this.parser !== null) {
      releaseParser(this.parser);
      this.parser = null;
    }
    this.owner.untrack(this);
    if (this.admitted) {
      this.admitted = false;
      this.target.resilience.breaker.endRequest();
    }
    this.target.stats.record(status, error, Number(process.hrtime.bigint() - this.startNs) / 1e9, this.req);
  }
}

function ignore(): void {}
