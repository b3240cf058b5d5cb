// What the data path knows of gRPC (the HTTP/2 protocol of grpc/grpc doc/PROTOCOL-HTTP2.md): a
// request is gRPC when its content-type is application/grpc[+proto|+json|...]; its outcome is
// the grpc-status in the trailers, or in the headers of a trailers-only response; grpc-timeout
// is its deadline. Errors the mesh makes on a gRPC request are gRPC errors (HTTP 200, trailers-
// only, grpc-status from the catalog error), with x-trellis-error kept, as Envoy does.
import type { IncomingMessage } from 'node:http';
import { errorHeader, errors, type ProxyError } from '../errors.js';
import { grpcStatus, grpcStatusFromHttp } from '../../common/grpc-codes.js';

export { grpcStatus };

/** Label values of trellis_grpc_requests_total: 0..16, and "unknown" for a response without a status. */
export const grpcStatusLabels: readonly string[] = [...Array.from({ length: 17 }, (_, i) => String(i)), 'missing'];
/** Index of "missing" in grpcStatusLabels. */
export const grpcStatusMissing = 17;

/** A scan of the raw list: reading req.headers would build the whole header object for every request. */
export function isGrpcRequest(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 12 && n.toLowerCase() === 'content-type') {
      const ct = raw[i + 1];
      return ct.length >= 16 && ct.startsWith('application/grpc');
    }
  }
  return false;
}

const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** grpc-timeout ("1-8 digits" + H, M, S, m, u or n) in milliseconds; null when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || value.length < 2 || value.length > 9) return null;
  const unit = unitMs[value[value.length - 1]];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return null;
  return Number(digits) * unit;
}

/** The grpc-timeout value for what is left of a deadline (at least 1 ms, at most 8 digits). */
export function formatGrpcTimeout(ms: number): string {
  const m = Math.max(1, Math.floor(ms));
  return m < 100_000_000 ? `${m}m` : `${Math.min(99_999_999, Math.floor(m / 1000))}S`;
}

/** grpc-status from a raw header or trailer list; -1 when there is none. */
export function grpcStatusOf(raw: readonly string[] | null): number {
  if (raw === null) return -1;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 11 && n.toLowerCase() === 'grpc-status') {
      const code = Number(raw[i + 1]);
      return Number.isInteger(code) && code >= 0 && code <= 16 ? code : grpcStatus.unknown;
    }
  }
  return -1;
}

/** Envoy's grpcToHttpStatus: what a gRPC status counts as for outlier detection (5xx = host failure). */
export function grpcToHttpStatus(code: number): number {
  switch (code) {
    case 0: return 200;
    case 1: return 499;
    case 3: case 9: case 11: return 400;
    case 4: return 504;
    case 5: return 404;
    case 6: case 10: return 409;
    case 7: return 403;
    case 8: return 429;
    case 12: return 501;
    case 14: return 503;
    case 16: return 401;
    default: return 500; // 2 UNKNOWN, 13 INTERNAL, 15 DATA_LOSS
  }
}

/** The gRPC status of an error the mesh made (Envoy's mapping of the HTTP status, made precise per error). */
export function grpcStatusForError(e: ProxyError): number {
  switch (e.code) {
    case errors.noRoute.code: return grpcStatus.unimplemented;
    case errors.noHealthyUpstream.code:
    case errors.upstreamConnect.code:
    case errors.connectTimeout.code:
    case errors.upstreamReset.code: return grpcStatus.unavailable;
    case errors.timeout.code: return grpcStatus.deadlineExceeded;
    case errors.overloaded.code: return grpcStatus.resourceExhausted;
    case errors.unauthorized.code: return grpcStatus.permissionDenied;
    case errors.badRequest.code: return grpcStatus.internal;
    default: return grpcStatusFromHttp(e.status); // statuses without a catalog error (fault aborts)
  }
}


const heads = new Map<ProxyError, string[]>();

/** A trailers-only gRPC error response's headers (HTTP 200), made once per error. */
export function grpcErrorHead(e: ProxyError): string[] {
  let h = heads.get(e);
  if (h === undefined) {
    h = ['content-type', 'application/grpc', 'grpc-status', String(grpcStatusForError(e)),
      'grpc-message', encodeURIComponent(e.body.trimEnd()), errorHeader, e.name];
    heads.set(e, h);
  }
  return h;
}
