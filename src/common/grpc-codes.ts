// gRPC status codes (grpc/doc/statuscodes.md) and gRPC's mapping of a non-200 HTTP status to one
// (grpc/doc/http-grpc-status-mapping.md): shared by the data path and the sidecar's xDS client.
export const grpcStatus = {
  ok: 0, cancelled: 1, unknown: 2, invalidArgument: 3, deadlineExceeded: 4, notFound: 5, alreadyExists: 6,
  permissionDenied: 7, resourceExhausted: 8, failedPrecondition: 9, aborted: 10, outOfRange: 11,
  unimplemented: 12, internal: 13, unavailable: 14, dataLoss: 15, unauthenticated: 16,
} as const;

export function grpcStatusFromHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return grpcStatus.internal;
    case 401: return grpcStatus.unauthenticated;
    case 403: return grpcStatus.permissionDenied;
    case 404: return grpcStatus.unimplemented;
    case 429: case 502: case 503: case 504: return grpcStatus.unavailable;
    default: return grpcStatus.unknown;
  }
}
