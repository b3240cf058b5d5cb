// A route's RetryPolicy compiled once per config into flags and a status table, so deciding
// whether a failure is retriable costs a few field reads on the request path.
import type { RetryPolicy } from '../../config/proxy-config.js';
import { errors, isConnectFailure, type ProxyError } from '../../errors.js';

/** Why a try is repeated; also the `reason` label of trellis_retries_total. */
export type RetryReason = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-status-code' | 'per-try-timeout' | GrpcRetryOn;

/** Envoy's gRPC retry_on conditions: the grpc-status of a trailers-only response. */
export type GrpcRetryOn = 'cancelled' | 'deadline-exceeded' | 'internal' | 'resource-exhausted' | 'unavailable';

export const retryReasons: readonly RetryReason[] = [
  'connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-code', 'per-try-timeout',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
];

/** grpc-status → the retry_on condition that names it. */
const grpcConditions: ReadonlyArray<[number, GrpcRetryOn]> = [[1, 'cancelled'], [4, 'deadline-exceeded'], [13, 'internal'], [8, 'resource-exhausted'], [14, 'unavailable']];

/** Methods that may be sent twice without changing the outcome (RFC 9110 §9.2.2). */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string | undefined): boolean {
  return idempotentMethods.has(method ?? '');
}

export class CompiledRetryPolicy {
  readonly maxRetries: number;
  readonly perTryTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly nonIdempotent: boolean;
  readonly maxBufferBytes: number;
  private readonly onConnectFailure: boolean;
  private readonly onReset: boolean;
  private readonly onGatewayError: boolean;
  private readonly on5xx: boolean;
  /** Index = status code; the reason that status is retried for, or null. */
  private readonly byStatus: Array<RetryReason | null> = new Array(600).fill(null);
  /** Index = grpc-status; the gRPC condition it is retried for, or null. */
  private readonly byGrpcStatus: Array<GrpcRetryOn | null> = new Array(17).fill(null);
  /** The policy names a gRPC condition: a gRPC call (always POST) may be retried (the author opted in for gRPC). */
  readonly grpc: boolean;

  constructor(policy: RetryPolicy) {
    this.maxRetries = Math.max(0, policy.maxRetries);
    this.perTryTimeoutMs = Math.max(0, policy.perTryTimeoutMs);
    this.backoffBaseMs = Math.max(0, policy.backoffBaseMs);
    this.backoffMaxMs = Math.max(0, policy.backoffMaxMs);
    this.nonIdempotent = policy.nonIdempotent;
    this.maxBufferBytes = Math.max(0, policy.maxBufferBytes);
    // strings: the gRPC conditions join RetryOn as the route decoder learns them
    const on = new Set<string>(policy.retryOn);
    this.onConnectFailure = on.has('connect-failure') || on.has('5xx') || on.has('gateway-error');
    this.onReset = on.has('reset') || on.has('5xx') || on.has('gateway-error');
    this.onGatewayError = on.has('gateway-error');
    this.on5xx = on.has('5xx');
    if (on.has('retriable-status-codes')) {
      for (const s of policy.retriableStatusCodes) if (s >= 100 && s < 600) this.byStatus[s] = 'retriable-status-code';
    }
    if (this.onGatewayError) for (const s of [502, 503, 504]) this.byStatus[s] ??= 'gateway-error';
    if (this.on5xx) for (let s = 500; s < 600; s++) this.byStatus[s] ??= '5xx';
    let grpc = false;
    for (const [code, cond] of grpcConditions) {
      if (on.has(cond)) {
        this.byGrpcStatus[code] = cond;
        grpc = true;
      }
    }
    this.grpc = grpc;
  }

  /** The gRPC condition a trailers-only answer's grpc-status is retried for, or null. */
  reasonForGrpcStatus(code: number): RetryReason | null {
    return code >= 0 && code <= 16 ? this.byGrpcStatus[code] : null;
  }

  /** May this request be retried at all (method and policy; the body is checked as it streams)? */
  allowsMethod(method: string | undefined, grpc = false): boolean {
    return this.maxRetries > 0 && (this.nonIdempotent || isIdempotent(method) || (grpc && this.grpc));
  }

  reasonForStatus(status: number): RetryReason | null {
    return status >= 0 && status < 600 ? this.byStatus[status] : null;
  }

  /** Envoy's semantics: 5xx and gateway-error include connect failures, resets and timeouts. */
  reasonForError(error: ProxyError): RetryReason | null {
    if (isConnectFailure(error)) return this.onConnectFailure ? 'connect-failure' : null;
    // a malformed response is a reset of that try (Envoy's upstream protocol error)
    if (error === errors.upstreamReset || error === errors.upstreamProtocol) return this.onReset ? 'reset' : null;
    return null;
  }

  get retriesPerTryTimeout(): boolean {
    return this.onReset;
  }
}
