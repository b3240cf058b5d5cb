// Envoy's gRPC retry conditions (`retry_on`, x-envoy-retry-grpc-on) and the gRPC status each one
// names (grpc/grpc doc/statuscodes.md). Shared by the compiler, which writes them, and the
// sidecar's decoder, which turns them into RetryPolicy.retryOnGrpcStatus.
import type { GrpcRetryOn, RetryOn } from './proxy-config.js';

export const grpcRetryOnStatus: Readonly<Record<GrpcRetryOn, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

export const grpcRetryOnValues = Object.keys(grpcRetryOnStatus) as GrpcRetryOn[];

export function isGrpcRetryOn(cond: string): cond is GrpcRetryOn {
  return Object.hasOwn(grpcRetryOnStatus, cond);
}

/** The gRPC status codes a retry_on list names, ascending and without duplicates. */
export function grpcStatusesOf(retryOn: readonly RetryOn[]): number[] {
  const codes = new Set<number>();
  for (const cond of retryOn) if (isGrpcRetryOn(cond)) codes.add(grpcRetryOnStatus[cond]);
  return [...codes].sort((a, b) => a - b);
}
