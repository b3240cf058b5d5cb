// The end reason of the xDS client's gRPC streams, in gRPC's status codes.
import { grpcStatus } from '../../common/grpc-codes.js';

export { grpcStatus };

export interface GrpcEndReason {
  code: number;
  message: string;
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
