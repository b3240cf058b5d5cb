// The gRPC status codes this client reports as a stream's end reason (grpc/doc/statuscodes.md).
export const grpcStatus = {
  ok: 0,
  cancelled: 1,
  unknown: 2,
  deadlineExceeded: 4,
  permissionDenied: 7,
  resourceExhausted: 8,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;

export interface GrpcEndReason {
  code: number;
  message: string;
}

/** gRPC's mapping of a non-200 HTTP status to a status code (grpc/doc/http-grpc-status-mapping.md). */
export function statusFromHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return grpcStatus.internal;
    case 401: return grpcStatus.unauthenticated;
    case 403: return grpcStatus.permissionDenied;
    case 404: return grpcStatus.unimplemented;
    case 429: case 502: case 503: case 504: return grpcStatus.unavailable;
    default: return grpcStatus.unknown;
  }
}

/** grpc-message is percent-encoded; a malformed encoding is shown as sent rather than lost. */
export function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const value = Array.isArray(raw) ? raw.join(',') : raw ?? '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
