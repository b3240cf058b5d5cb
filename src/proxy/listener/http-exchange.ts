// One proxied request: downstream request → upstream tries → downstream response. The object
// is the upstream connection's ResponseSink, the cluster breaker's pending waiter and the
// target of the downstream's events and of its timers (reached through a symbol on req/res or
// passed as the timer argument), so no closure is created per request.
//
// Resilience stages, in the order a request meets them (each a small object of its own in
// cluster/resilience/, each skipped on a null check when its route or cluster has none):
//   1. fault abort      (route)    answer fault-abort instead of forwarding
//   2. fault delay      (route)    hold the request before forwarding
//   3. active requests  (cluster)  over maxRequests: 503 overloaded at once
//   4. route timeout    (route)    the whole request, all tries included: 504 timeout
//   5. try:  pick → attemptStarted → connection (over maxConnections: wait as pending, over
//            maxPendingRequests: 503 overloaded) → per-try timeout → attemptEnded
//   6. retry decision   retry policy (reason, attempts left, method, replayable body), then the
//            cluster's active-retries limit, then its retry budget; backoff with full jitter;
//            back to 5 with a fresh pick.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, isConnectFailure, type ProxyError } from '../errors.js';
import { type BodyFraming, type ResponseSink } from '../cluster/pool/upstream-client.js';
import type { UpstreamStream } from '../cluster/pool/upstream-stream.js';
import { isPickError, type AttemptOutcome, type Cluster, type PickedEndpoint } from '../cluster/cluster.js';
import type { ClusterResilience } from '../cluster/resilience/cluster-resilience.js';
import type { RouteResilience } from '../cluster/resilience/route-resilience.js';
import type { PendingWaiter } from '../cluster/resilience/circuit-breaker.js';
import type { ResilienceClock } from '../cluster/resilience/resilience-clock.js';
import { backoffMs } from '../cluster/resilience/retry-backoff.js';
import { isIdempotent, type RetryReason } from '../cluster/resilience/retry-policy.js';
import type { RouteStats } from '../telemetry/metrics.js';
import type { RequestRecord } from '../telemetry/request-telemetry.js';
import { responseHeaders, trailerObject } from '../http/forward-headers.js';
import type { HeaderMutation } from '../config/proxy-config.js';
import { applyHeaderMutation } from '../http/header-mutation.js';
import { respondHeadersOnly } from '../http/h2-headers.js';
import type { RequestMirror } from '../http/request-mirror.js';
import {
  formatGrpcTimeout, grpcStatusForError, grpcStatusMissing, grpcStatusOf, grpcToHttpStatus, isGrpcRequest, parseGrpcTimeout,
} from '../http/grpc.js';
import { grpcStatusFromHttp } from '../../common/grpc-codes.js';

export const kExchange = Symbol('trellis.exchange');

/** What the exchange needs from its listener. */
export interface ExchangeHost {
  readonly draining: boolean;
  readonly clock: ResilienceClock;
  readonly random: () => number;
  /** `close`: answer with `connection: close` (the connection cannot carry another request). */
  respondError(res: ServerResponse, error: ProxyError, close?: boolean): void;
  exchangeDone(ex: HttpExchange): void;
  /** Counts an upstream response refused as malformed (`reason` of trellis_refused_total). */
  refusedResponse(reason: string): void;
}

/** Where a request goes: the route's policies and counters towards one cluster. */
export interface ExchangeTarget {
  readonly stats: RouteStats;
  readonly route: RouteResilience;
  readonly cluster: Cluster;
  readonly resilience: ClusterResilience;
  /** The route's ResponseHeaderModifier; null when it has none. */
  readonly responseHeaders: HeaderMutation | null;
}

/** Status recorded when the downstream left before its response was complete. */
export const downstreamClosedStatus = 499;

export class HttpExchange implements ResponseSink, PendingWaiter {
  private conn: UpstreamStream | null = null;
  /** The open try's endpoint: set from pick to attemptEnded, so each try ends exactly once. */
  private picked: PickedEndpoint | null = null;
  private lastPicked: PickedEndpoint | null = null;
  private attemptStart = 0;
  private retries = 0;
  private staleRetried = false;
  private finished = false;
  private admitted = false;
  private holdsRetry = false;
  private waiting = false;
  private routeTimer: unknown = null;
  private tryTimer: unknown = null;
  /** Fault delay or retry backoff. */
  private waitTimer: unknown = null;
  /** True while a retry is still possible for this request (policy, method, body size). */
  private retryable: boolean;
  /** The request body as sent so far, kept only while a retry could need to replay it. */
  private body: Buffer[] | null = null;
  private bodyBytes = 0;
  private reqEnded = false;
  private reading = false;
  private watchingResDrain = false;
  /** First body chunk, held until the read that carried it is parsed (see onUpstreamFlush). */
  private pending: Buffer | null = null;
  private wroteBody = false;
  /**
   * The response head, held (like the first body chunk) until the read that carried it is parsed:
   * a framing error later in that read (a bad first chunk) can still be answered 502 instead of
   * cutting a response already begun. 0 = nothing held.
   */
  private heldStatus = 0;
  private heldMessage = '';
  private heldHeaders: string[] | null = null;
  private readonly isHead: boolean;
  /** The downstream speaks HTTP/2 (compat request and response). */
  private readonly h2: boolean;
  /** A gRPC call: its grpc-status classifies it, grpc-timeout is its deadline, errors are gRPC errors. */
  private readonly grpc: boolean;
  /** Clock time the call's grpc-timeout runs out; 0 without one. */
  private grpcDeadline = 0;
  /** A gRPC response whose status comes in the trailers: the try stays open until they do. */
  private grpcPending = false;
  /** The call's grpc-status once known (-1: not yet). */
  private grpcCode = -1;
  /** Copies of this request (RequestMirror) that still take its body; null when none. */
  private mirrors: RequestMirror[] | null = null;
  /** Tap, access log and tracing state; null (and never allocated) while all are off. */
  private record: RequestRecord | null = null;
  /**
   * The request's protocol at its origin is HTTP/2: a cluster that speaks "the downstream's
   * protocol" (an app behind a port without a protocol) gets it as h2c, else as HTTP/1.1.
   */
  downstreamH2 = false;

  constructor(
    private readonly host: ExchangeHost,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly target: ExchangeTarget,
    private head: string,
    private readonly framing: BodyFraming,
    private readonly startNs: bigint,
  ) {
    this.isHead = req.method === 'HEAD';
    this.h2 = (req as any).stream !== undefined;
    this.grpc = isGrpcRequest(req);
    (req as any)[kExchange] = this;
    (res as any)[kExchange] = this;
    res.on('close', onResClose);
    const retry = target.route.retry;
    this.retryable = retry !== null && retry.allowsMethod(req.method, this.grpc);
    if (this.retryable && framing !== 'none') {
      const declared = framing === 'length' ? Number(req.headers['content-length']) : 0;
      // Buffer the body only when a retry may need it, and give up retries up front when it is
      // declared too large to keep.
      if (declared > retry!.maxBufferBytes) this.retryable = false;
      else this.body = [];
    }
  }

  /** The body, as it arrives, also goes to these copies. */
  mirrorTo(mirrors: RequestMirror[]): void {
    if (mirrors.length) this.mirrors = mirrors;
  }

  start(): void {
    if (this.grpc) {
      const ms = parseGrpcTimeout(this.req.headers['grpc-timeout']);
      if (ms !== null) this.grpcDeadline = this.host.clock.now() + ms;
    }
    const observer = this.target.stats.observer;
    if (observer.on) {
      this.record = observer.begin(this.req, this.head);
      this.head = this.record.head;
    }
    const route = this.target.route;
    const fault = route.fault;
    if (fault !== null) {
      const abort = fault.abort(this.host.random);
      if (abort !== null) {
        route.faultStats!.abort.value++;
        this.fail(abort);
        return;
      }
      const delay = fault.delay(this.host.random);
      if (delay > 0) {
        route.faultStats!.delay.value++;
        this.waitTimer = this.host.clock.setTimer(onForward, delay, this);
        return;
      }
    }
    this.forward();
  }

  /** After any fault delay: admission, the route timeout, then the first try. */
  forward(): void {
    this.waitTimer = null;
    if (this.finished) return;
    const r = this.target.resilience;
    if (!r.breaker.tryStartRequest()) {
      r.stats.rejections.requests.value++;
      this.fail(errors.overloaded);
      return;
    }
    this.admitted = true;
    const route = this.target.route;
    if (this.retryable) r.budget.recordRequest(this.target.cluster.config.retryBudget, this.host.clock.now());
    let timeoutMs = route.timeoutMs;
    if (this.grpcDeadline > 0) {
      // the caller's deadline bounds the call like the route timeout, whichever ends first
      const left = Math.max(1, Math.ceil(this.grpcDeadline - this.host.clock.now()));
      if (timeoutMs === 0 || left < timeoutMs) timeoutMs = left;
    }
    if (timeoutMs > 0) this.routeTimer = this.host.clock.setTimer(onRouteTimeout, timeoutMs, this);
    this.attempt();
  }

  /** One try: a fresh pick (another endpoint than the last try's when the balancer offers one). */
  attempt(): void {
    this.waitTimer = null;
    if (this.finished) return;
    const cluster = this.target.cluster;
    // a retry tells the cluster what failed: it draws again, and prefers the next priority to a host that just failed
    const p = cluster.pick(this.lastPicked ?? undefined);
    if (isPickError(p)) {
      this.fail(p);
      return;
    }
    cluster.attemptStarted(p);
    this.picked = p;
    this.attemptStart = this.host.clock.now();
    const retry = this.target.route.retry;
    if (retry !== null && retry.perTryTimeoutMs > 0) this.tryTimer = this.host.clock.setTimer(onTryTimeout, retry.perTryTimeoutMs, this);
    this.acquire(false);
  }

  private acquire(fresh: boolean): void {
    const r = this.target.resilience;
    const conn = this.picked!.pool.acquireWithin(r.breaker, fresh, this.downstreamH2);
    if (conn !== null) {
      this.send(conn);
      return;
    }
    if (r.breaker.enqueue(this)) {
      this.waiting = true;
      return;
    }
    r.stats.rejections.pending.value++;
    this.endAttempt('cancelled');
    this.fail(errors.overloaded);
  }

  /** The cluster's breaker has a connection slot (or an idle socket) for a pending request. */
  connectionAvailable(): void {
    this.waiting = false;
    if (this.finished || this.picked === null) return;
    this.acquire(false);
  }

  private send(conn: UpstreamStream): void {
    this.conn = conn;
    conn.send(this.grpcDeadline > 0 ? this.headWithTimeLeft() : this.head, this, this.isHead, this.framing);
    if (this.framing === 'none') return;
    if (!this.reading) {
      this.reading = true;
      this.req.on('data', onReqData);
      this.req.on('end', onReqEnd);
      return;
    }
    // A retry: replay what was sent so far; the rest follows as it arrives.
    const body = this.body;
    if (body !== null) for (let i = 0; i < body.length; i++) conn.writeBody(body[i]);
    if (this.reqEnded) this.endBodyOn(conn);
    else this.req.resume();
  }

  /** The head as built, with grpc-timeout lowered to what is left of the deadline (propagated downstream). */
  private headWithTimeLeft(): string {
    const left = formatGrpcTimeout(this.grpcDeadline - this.host.clock.now());
    return this.head.replace(/\r\ngrpc-timeout:[^\r]*/i, `\r\ngrpc-timeout: ${left}`);
  }

  onUpstreamHead(status: number, statusMessage: string, rawHeaders: string[]): void {
    if (this.finished) return;
    let grpcCode = -1;
    if (this.grpc && status === 200) {
      grpcCode = grpcStatusOf(rawHeaders);
      if (grpcCode < 0) {
        // the status comes in the trailers: the try (outlier detection, EWMA) ends there
        this.grpcPending = true;
        this.stopTryTimer();
      } else {
        // trailers-only: the status is in the headers, and a retry is still possible
        this.grpcCode = grpcCode;
        this.endAttempt(grpcToHttpStatus(grpcCode) >= 500 ? 'http-5xx' : 'success');
      }
    } else {
      this.endAttempt(status >= 500 ? 'http-5xx' : 'success');
    }
    const retry = this.target.route.retry;
    if (this.retryable && retry !== null) {
      const reason = grpcCode >= 0 ? retry.reasonForGrpcStatus(grpcCode) : this.grpcPending ? null : retry.reasonForStatus(status);
      if (reason !== null && this.mayRetry(reason)) {
        // The failed answer is dropped with its socket; a retry that also fails is relayed as is.
        this.abortUpstream();
        this.scheduleRetry();
        return;
      }
    }
    // From here on the response is this try's: nothing is replayed any more.
    this.retryable = false;
    this.body = null;
    const mutation = this.target.responseHeaders;
    // HTTP/2 has no Connection header (a draining session says GOAWAY)
    const headers = responseHeaders(rawHeaders, this.host.draining && !this.h2);
    this.heldStatus = status;
    this.heldMessage = statusMessage;
    this.heldHeaders = mutation === null ? headers : applyHeaderMutation(headers, mutation);
  }

  /** Hands the held head to the response; false when it cannot be relayed (the exchange failed). */
  private sendHead(): boolean {
    const status = this.heldStatus;
    this.heldStatus = 0;
    try {
      // HTTP/2 has no reason phrase
      if (this.h2) this.res.writeHead(status, this.heldHeaders as any);
      else this.res.writeHead(status, this.heldMessage, this.heldHeaders as any);
      this.heldHeaders = null;
      return true;
    } catch {
      // Node refused a header (invalid characters): the upstream's answer cannot be relayed.
      this.heldHeaders = null;
      this.host.refusedResponse('response-invalid-header');
      this.abortUpstream();
      this.fail(errors.upstreamProtocol);
      return false;
    }
  }

  onUpstreamData(chunk: Buffer): boolean {
    if (this.finished) return true;
    if (!this.wroteBody && this.pending === null) {
      this.pending = chunk;
      return true;
    }
    return this.write(chunk);
  }

  onUpstreamFlush(): boolean {
    return this.finished ? true : this.write(null);
  }

  private write(chunk: Buffer | null): boolean {
    if (this.heldStatus !== 0 && !this.sendHead()) return true;
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      this.wroteBody = true;
      if (chunk === null) chunk = pending;
      else if (!this.res.write(pending)) {
        // Keep order; the new chunk still goes out, backpressure is reported below.
        this.res.write(chunk);
        return this.watchDrain();
      }
    }
    if (chunk === null) return true;
    this.wroteBody = true;
    if (this.res.write(chunk)) return true;
    return this.watchDrain();
  }

  private watchDrain(): boolean {
    if (!this.watchingResDrain) {
      this.watchingResDrain = true;
      this.res.on('drain', onResDrain);
    }
    return false;
  }

  onUpstreamEnd(rawTrailers: string[] | null): void {
    if (this.finished) return;
    this.conn = null;
    if (this.grpcPending) {
      this.grpcPending = false;
      const code = grpcStatusOf(rawTrailers);
      this.grpcCode = code < 0 ? grpcStatusMissing : code;
      this.endAttempt(code < 0 || grpcToHttpStatus(code) >= 500 ? 'http-5xx' : 'success');
    }
    if (this.heldStatus !== 0 && this.h2 && this.pending === null && (rawTrailers === null || rawTrailers.length === 0)) {
      // Nothing but a head: over HTTP/2 one HEADERS frame with END_STREAM (a gRPC trailers-only
      // response; headers and then an empty DATA frame would leave a gRPC client without a status).
      const status = this.heldStatus;
      const headers = this.heldHeaders!;
      this.heldStatus = 0;
      this.heldHeaders = null;
      try {
        respondHeadersOnly(this.res, status, headers);
      } catch {
        this.host.refusedResponse('response-invalid-header');
        this.fail(errors.upstreamProtocol);
        return;
      }
      this.finish(status, null);
      return;
    }
    if (this.heldStatus !== 0 && !this.sendHead()) return;
    const res = this.res;
    if (rawTrailers !== null && rawTrailers.length > 0) {
      try {
        res.addTrailers(trailerObject(rawTrailers));
      } catch {
        // Trailers Node will not send (e.g. without chunked framing) are dropped, not fatal.
      }
    }
    const pending = this.pending;
    this.pending = null;
    // A response that came whole leaves with the head in one write.
    if (pending !== null) res.end(pending);
    else res.end();
    this.finish(res.statusCode, null);
  }

  onUpstreamError(error: ProxyError, detail: string, stale: boolean): void {
    if (this.finished) return;
    this.conn = null;
    // a malformed response names its reason in `detail` (a bounded label)
    if (error === errors.upstreamProtocol) this.host.refusedResponse(detail);
    if (this.picked === null) {
      // The head was relayed already: the response is cut.
      this.fail(error);
      return;
    }
    // A keep-alive socket the peer had already closed: go once more on a fresh socket when the
    // request can be sent again unchanged and repeating it is harmless. Not a retry: same try.
    if (stale && !this.staleRetried && this.framing === 'none' && isIdempotent(this.req.method)) {
      this.staleRetried = true;
      this.acquire(true);
      return;
    }
    const r = this.target.resilience;
    if (error === errors.connectTimeout) r.stats.timeouts.connect.value++;
    this.endAttempt(isConnectFailure(error) ? 'connect-failure' : 'reset');
    const retry = this.target.route.retry;
    if (this.retryable && retry !== null) {
      const reason = retry.reasonForError(error);
      if (reason !== null && this.mayRetry(reason)) {
        this.scheduleRetry();
        return;
      }
    }
    this.fail(error);
  }

  onUpstreamDrain(): void {
    this.req.resume();
  }

  /** The route timeout fired: the whole request, all tries included, took too long. */
  routeTimeout(): void {
    this.routeTimer = null;
    if (this.finished) return;
    this.target.resilience.stats.timeouts.request.value++;
    this.abortUpstream();
    this.endAttempt('timeout');
    this.fail(errors.timeout);
  }

  /** The per-try timeout fired before this try's response head. */
  tryTimeout(): void {
    this.tryTimer = null;
    if (this.finished || this.picked === null) return;
    this.target.resilience.stats.timeouts['per-try'].value++;
    this.abortUpstream();
    this.endAttempt('timeout');
    const retry = this.target.route.retry;
    if (this.retryable && retry !== null && retry.retriesPerTryTimeout && this.mayRetry('per-try-timeout')) {
      this.scheduleRetry();
      return;
    }
    this.fail(errors.timeout);
  }

  /**
   * The client's bytes after this request's head broke HTTP framing (Node's parser refused
   * them): answer `error` with `connection: close` and cancel the upstream side, which got
   * at most a partial body and never a second request.
   */
  refuse(error: ProxyError): void {
    if (this.finished) return;
    this.abortUpstream();
    this.endAttempt('cancelled');
    this.fail(error, true);
  }

  /**
   * No byte moved on the client's connection for the stream idle timeout: 408 when the request
   * body stalled, 504 when the upstream's answer did; the connection closes after.
   */
  streamIdle(): void {
    if (this.finished) return;
    const error = this.req.complete ? errors.timeout : errors.requestTimeout;
    this.abortUpstream();
    this.endAttempt('timeout');
    this.fail(error, true);
  }

  /** The downstream connection closed; if the response was not complete, cancel upstream. */
  downstreamClosed(): void {
    if (this.finished) return;
    this.abortUpstream();
    this.endAttempt('cancelled');
    this.finish(downstreamClosedStatus, null);
  }

  resumeUpstream(): void {
    if (this.conn !== null) this.conn.resume();
  }

  writeBody(chunk: Buffer): void {
    const mirrors = this.mirrors;
    if (mirrors !== null) for (let i = 0; i < mirrors.length; i++) mirrors[i].writeBody(chunk);
    if (this.record !== null) this.record.bytesIn += chunk.length;
    if (this.body !== null) {
      this.bodyBytes += chunk.length;
      if (this.bodyBytes > this.target.route.retry!.maxBufferBytes) {
        // Too large to keep: this request can no longer be retried.
        this.body = null;
        this.retryable = false;
      } else {
        this.body.push(chunk);
      }
    }
    const conn = this.conn;
    if (conn !== null) {
      if (!conn.writeBody(chunk)) this.req.pause();
    } else if (this.body === null && !this.finished) {
      // Between tries (backoff or waiting for a connection) with a body that can no longer be
      // replayed: the retry cannot happen.
      this.abandonRetry();
    }
  }

  endBody(): void {
    this.reqEnded = true;
    const mirrors = this.mirrors;
    if (mirrors !== null) {
      this.mirrors = null;
      const trailers = this.framing === 'chunked' && this.req.rawTrailers.length > 0 ? this.req.rawTrailers : null;
      for (let i = 0; i < mirrors.length; i++) mirrors[i].endBody(trailers);
    }
    const conn = this.conn;
    if (conn !== null) this.endBodyOn(conn);
  }

  private endBodyOn(conn: UpstreamStream): void {
    conn.endBody(this.framing === 'chunked' && this.req.rawTrailers.length > 0 ? this.req.rawTrailers : null);
  }

  /**
   * Counts a retry against, in order, the policy's attempts, the cluster's active-retries limit
   * and its retry budget; true when all allow it.
   */
  private mayRetry(reason: RetryReason): boolean {
    if (this.retries >= this.target.route.retry!.maxRetries) return false;
    const r = this.target.resilience;
    if (!r.breaker.tryStartRetry()) {
      r.stats.rejections.retries.value++;
      return false;
    }
    if (!r.budget.tryRetry(this.target.cluster.config.retryBudget, this.host.clock.now())) {
      r.breaker.endRetry();
      r.stats.budgetExhausted.value++;
      return false;
    }
    this.holdsRetry = true;
    r.stats.retries[reason].value++;
    return true;
  }

  private scheduleRetry(): void {
    const retry = this.target.route.retry!;
    const wait = backoffMs(this.retries, retry.backoffBaseMs, retry.backoffMaxMs, this.host.random);
    this.retries++;
    // Always through a timer, even at 0 ms: the failed try's callbacks unwind first.
    this.waitTimer = this.host.clock.setTimer(onRetry, wait, this);
  }

  private abandonRetry(): void {
    this.clearWait();
    this.leavePending();
    this.endAttempt('cancelled');
    this.fail(errors.upstreamReset);
  }

  private stopTryTimer(): void {
    if (this.tryTimer !== null) {
      this.host.clock.clearTimer(this.tryTimer);
      this.tryTimer = null;
    }
  }

  private endAttempt(outcome: AttemptOutcome): void {
    const p = this.picked;
    if (p === null) return;
    this.picked = null;
    this.lastPicked = p;
    const clock = this.host.clock;
    this.stopTryTimer();
    this.leavePending();
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.target.resilience.breaker.endRetry();
    }
    this.target.cluster.attemptEnded(p, outcome, clock.now() - this.attemptStart);
  }

  private leavePending(): void {
    if (this.waiting) {
      this.waiting = false;
      this.target.resilience.breaker.remove(this);
    }
  }

  private clearWait(): void {
    if (this.waitTimer !== null) {
      this.host.clock.clearTimer(this.waitTimer);
      this.waitTimer = null;
    }
  }

  private abortUpstream(): void {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.abort();
  }

  private fail(error: ProxyError, close = false): void {
    const res = this.res;
    if (!res.headersSent) {
      this.host.respondError(res, error, close);
    } else if (this.grpc && this.h2 && !res.writableEnded) {
      // mid-call: the status still fits in the trailers (a gRPC client reads them, not a reset)
      try {
        res.addTrailers({ 'grpc-status': String(grpcStatusForError(error)), 'grpc-message': encodeURIComponent(error.body.trimEnd()), 'x-trellis-error': error.name });
        const pending = this.pending;
        this.pending = null;
        if (pending !== null) res.end(pending);
        else res.end();
      } catch {
        res.destroy();
      }
    } else {
      // Mid-response there is no way to signal an error in HTTP/1.1 but to cut the connection.
      res.destroy();
    }
    this.finish(error.status, error);
  }

  /** The grpc-status the call ended with, as its client saw it. */
  private finalGrpcStatus(status: number, error: ProxyError | null): number {
    if (error !== null) return grpcStatusForError(error);
    if (this.grpcCode >= 0) return this.grpcCode;
    if (status === downstreamClosedStatus) return 1; // CANCELLED
    return status === 200 ? grpcStatusMissing : grpcStatusFromHttp(status);
  }

  private finish(status: number, error: ProxyError | null): void {
    this.finished = true;
    const clock = this.host.clock;
    if (this.routeTimer !== null) {
      clock.clearTimer(this.routeTimer);
      this.routeTimer = null;
    }
    this.clearWait();
    // Every try ends exactly once, whichever way the request ended.
    this.endAttempt('cancelled');
    const r = this.target.resilience;
    if (this.holdsRetry) {
      this.holdsRetry = false;
      r.breaker.endRetry();
    }
    if (this.admitted) {
      this.admitted = false;
      r.breaker.endRequest();
    }
    this.body = null;
    if (this.mirrors !== null) {
      // the request ended before its body did: the copies would wait for it for ever
      for (const m of this.mirrors) m.cancel();
      this.mirrors = null;
    }
    if (this.reading) {
      this.req.removeListener('data', onReqData);
      this.req.removeListener('end', onReqEnd);
    }
    const seconds = Number(process.hrtime.bigint() - this.startNs) / 1e9;
    this.target.stats.record(status, error, seconds, this.req, this.grpc ? this.finalGrpcStatus(status, error) : -1);
    const rec = this.record;
    if (rec !== null) {
      this.record = null;
      this.target.stats.observer.end(rec, this.target.stats, status, error, seconds, this.lastPicked === null ? null : this.lastPicked.endpoint, this.retries);
    }
    this.host.exchangeDone(this);
  }
}

function onForward(ex: HttpExchange): void {
  ex.forward();
}

function onRetry(ex: HttpExchange): void {
  ex.attempt();
}

function onRouteTimeout(ex: HttpExchange): void {
  ex.routeTimeout();
}

function onTryTimeout(ex: HttpExchange): void {
  ex.tryTimeout();
}

function onResClose(this: ServerResponse): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.downstreamClosed();
}

function onResDrain(this: ServerResponse): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.resumeUpstream();
}

function onReqData(this: IncomingMessage, chunk: Buffer): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.writeBody(chunk);
}

function onReqEnd(this: IncomingMessage): void {
  const ex = (this as any)[kExchange] as HttpExchange;
  if (ex !== undefined) ex.endBody();
}
