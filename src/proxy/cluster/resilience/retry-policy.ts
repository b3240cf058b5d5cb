// A route's RetryPolicy compiled once per config into flags and a status table, so deciding
// whether a failure is retriable costs a few field reads on the request path.
import type { RetryPolicy } from '../../config/proxy-config.js';
import { errors, type ProxyError } from '../../errors.js';

/** Why a try is repeated; also the `reason` label of trellis_retries_total. */
export type RetryReason = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-status-code' | 'per-try-timeout';

export const retryReasons: readonly RetryReason[] = ['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-code', 'per-try-timeout'];

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

  constructor(policy: RetryPolicy) {
    this.maxRetries = Math.max(0, policy.maxRetries);
    this.perTryTimeoutMs = Math.max(0, policy.perTryTimeoutMs);
    this.backoffBaseMs = Math.max(0, policy.backoffBaseMs);
    this.backoffMaxMs = Math.max(0, policy.backoffMaxMs);
    this.nonIdempotent = policy.nonIdempotent;
    this.maxBufferBytes = Math.max(0, policy.maxBufferBytes);
    const on = new Set(policy.retryOn);
    this.onConnectFailure = on.has('connect-failure') || on.has('5xx') || on.has('gateway-error');
    this.onReset = on.has('reset') || on.has('5xx') || on.has('gateway-error');
    this.onGatewayError = on.has('gateway-error');
    this.on5xx = on.has('5xx');
    if (on.has('retriable-status-codes')) {
      for (const s of policy.retriableStatusCodes) if (s >= 100 && s < 600) this.byStatus[s] = 'retriable-status-code';
    }
    if (this.onGatewayError) for (const s of [502, 503, 504]) this.byStatus[s] ??= 'gateway-error';
    if (this.on5xx) for (let s = 500; s < 600; s++) this.byStatus[s] ??= '5xx';
  }

  /** May this request be retried at all (method and policy; the body is checked as it streams)? */
  allowsMethod(method: string | undefined): boolean {
    return this.maxRetries > 0 && (this.nonIdempotent || isIdempotent(method));
  }

  reasonForStatus(status: number): RetryReason | null {
    return status >= 0 && status < 600 ? this.byStatus[status] : null;
  }

  /** Envoy's semantics: 5xx and gateway-error include connect failures, resets and timeouts. */
  reasonForError(error: ProxyError): RetryReason | null {
    if (error === errors.upstreamConnect) return this.onConnectFailure ? 'connect-failure' : null;
    // a malformed response is a reset of that try (Envoy's upstream protocol error)
    if (error === errors.upstreamReset || error === errors.upstreamProtocol) return this.onReset ? 'reset' : null;
    return null;
  }

  get retriesPerTryTimeout(): boolean {
    return this.onReset;
  }
}
