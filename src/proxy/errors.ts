// The one catalog of errors the proxy produces itself (shared/DESIGN.md §6). The data path
// passes these records around as values; the code, status, header and metric label of each
// error are fixed here so responses, metrics and logs always agree.

export interface ProxyError {
  /** Stable identifier; logic branches on this, never on message text. */
  readonly code: string;
  /** HTTP status the proxy answers with. */
  readonly status: number;
  /** Value of the `x-trellis-error` response header, also the `error` metric label. */
  readonly name: string;
  /** Short plain-text body of the proxy's own response. */
  readonly body: string;
}

function define(code: string, status: number, name: string, message: string): ProxyError {
  return Object.freeze({ code, status, name, body: `${message}\n` });
}

export const errors = Object.freeze({
  noRoute: define('TRL_ERR_NO_ROUTE', 404, 'no-route', 'no route matches this request'),
  noHealthyUpstream: define('TRL_ERR_NO_HEALTHY_UPSTREAM', 503, 'no-healthy-upstream', 'no healthy upstream endpoint'),
  upstreamConnect: define('TRL_ERR_UPSTREAM_CONNECT', 502, 'upstream-connect', 'could not connect to the upstream endpoint'),
  /** The connect timeout expired before the endpoint accepted (a refusal stays `upstreamConnect`). */
  connectTimeout: define('TRL_ERR_CONNECT_TIMEOUT', 504, 'connect-timeout', 'the upstream endpoint did not accept the connection within the connect timeout'),
  upstreamReset: define('TRL_ERR_UPSTREAM_RESET', 502, 'upstream-reset', 'the upstream connection failed before a complete response'),
  timeout: define('TRL_ERR_TIMEOUT', 504, 'timeout', 'the upstream did not answer within the route timeout'),
  overloaded: define('TRL_ERR_OVERLOADED', 503, 'overloaded', 'the proxy is overloaded'),
  unauthorized: define('TRL_ERR_UNAUTHORIZED', 403, 'unauthorized', 'the caller is not authorized'),
  badRequest: define('TRL_ERR_BAD_REQUEST', 400, 'bad-request', 'the request is malformed'),
  /** The request head (header timeout) or body (stream idle timeout) did not arrive in time. */
  requestTimeout: define('TRL_ERR_REQUEST_TIMEOUT', 408, 'request-timeout', 'the request did not arrive in time'),
  /** The upstream's response broke HTTP framing (smuggling attempt, bad chunk, oversized head). */
  upstreamProtocol: define('TRL_ERR_UPSTREAM_PROTOCOL', 502, 'upstream-protocol-error', 'the upstream sent a malformed response'),
  /** Fault injection answered instead of the upstream; the status is the route's (503 here). */
  faultAbort: define('TRL_ERR_FAULT_ABORT', 503, 'fault-abort', 'request aborted by fault injection'),
});

/**
 * A refused request with its own status and reason (431 head too large, 414 request line too
 * long, ...): `x-trellis-error: bad-request` whatever the status, so one header value means "the
 * sidecar refused what the client sent". Made once per kind, at module load.
 */
export function badRequestError(status: number, message: string): ProxyError {
  return define(errors.badRequest.code, status, errors.badRequest.name, message);
}

const faultAborts = new Map<number, ProxyError>([[errors.faultAbort.status, errors.faultAbort]]);

/**
 * The fault-abort error with the status a route configured; made once per status (at config
 * time), so the request path compares and caches it like any catalog entry.
 */
export function faultAbortError(status: number): ProxyError {
  let e = faultAborts.get(status);
  if (e === undefined) {
    e = define(errors.faultAbort.code, status, errors.faultAbort.name, errors.faultAbort.body.trimEnd());
    faultAborts.set(status, e);
  }
  return e;
}

/** A try that never reached the endpoint (refused, unreachable or timed out connecting): retried and counted alike. */
export function isConnectFailure(e: ProxyError): boolean {
  return e === errors.upstreamConnect || e === errors.connectTimeout;
}

export type ErrorKey = keyof typeof errors;

export const allErrors: readonly ProxyError[] = Object.values(errors);

/** Metric label for requests that ended without a proxy error. */
export const noErrorLabel = '';

export const errorHeader = 'x-trellis-error';
