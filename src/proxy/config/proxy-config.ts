// The sidecar's typed, validated view of its xDS config. The xDS client decodes each Envoy
// resource once into these shapes; the data path never sees protobuf objects.
import type { ListenerTelemetryConfig } from '../telemetry/telemetry-settings.js';
import type { AuthzConfig } from '../authz/authz-config.js';

export interface ListenerConfig {
  name: string;               // "outbound" | "inbound"
  address: string;
  port: number;
  direction: 'outbound' | 'inbound';
  routeConfigName: string;    // RDS name, or the name of the inline route config
  inlineRoutes?: RouteTable;  // set when the HttpConnectionManager carries route_config inline
  telemetry?: ListenerTelemetryConfig; // access log and tracing (absent = both off)
  /** Inbound only: mTLS from peers (strict: TLS only; permissive: TLS or plaintext); absent = plaintext. */
  tls?: { mode: 'strict' | 'permissive'; alpn: string[] };
  /** Inbound only: RBAC decoded from the HttpConnectionManager's filters; absent = allow all. */
  authz?: AuthzConfig;
  /**
   * A TCP listener (Envoy's tcp_proxy network filter, docs/protocols.md): connections are proxied
   * as opaque bytes; routeConfigName is '' and there are no routes.
   */
  tcpProxy?: TcpProxyConfig;
  /**
   * Protocol detection (a Service port without a protocol, docs/protocols.md): connections whose
   * first bytes are HTTP go to the HTTP listener serving `routeConfigName`; TLS, anything else, or
   * silence for `timeoutMs` go to `tcpProxy`.
   */
  detect?: DetectConfig;
  /** false: the listener binds nothing and takes only connections the interception listener hands it (Envoy's bind_to_port). */
  bindToPort?: boolean;
}

export interface DetectConfig {
  /** How long a silent (or inconclusive) client is waited for: Envoy's listener_filters_timeout. */
  timeoutMs: number;
  /** Which detected HTTP versions take the HTTP path (the HTTP chain's application_protocols). */
  http1: boolean;
  h2c: boolean;
}

export interface TcpProxyConfig {
  cluster: string;
  /** No byte either way for this long closes both sides; 0 = never. */
  idleTimeoutMs: number;
  /** Endpoints tried per connection before it is refused (connect failures only). */
  maxConnectAttempts: number;
  /** Tunnel in an HTTP/1.1 CONNECT with this authority (tunneling_config.hostname); absent = plain TCP to the endpoint. */
  tunnelHostname?: string;
}

/** An inbound route that terminates a CONNECT (a TCP tunnel from a peer sidecar) at the app's `port`. */
export interface ConnectRoute {
  name: string;
  port: number;
  cluster: string;
}

export interface RouteTable {
  name: string;
  virtualHosts: VirtualHost[];
  /** CONNECT routes (connect_matcher), kept apart: the router never matches them to a request. */
  connect?: ConnectRoute[];
}

export interface VirtualHost {
  name: string;
  domains: string[];          // exact host names, "*" or "*.suffix" / "prefix.*"
  routes: Route[];
}

export type PathMatch =
  | { kind: 'prefix'; value: string }
  | { kind: 'exact'; value: string }
  /** Gateway API PathPrefix: whole path segments ("/a" matches "/a" and "/a/b", not "/ab"); Envoy's path_separated_prefix */
  | { kind: 'segment-prefix'; value: string }
  /** RE2 pattern, matched against the whole path (query excluded) */
  | { kind: 'regex'; value: string };

/** A header or query parameter condition; a regex matches the whole value. */
export interface ValueMatch {
  name: string;                // headers: lower-cased
  kind: 'exact' | 'regex';
  value: string;
}

/** Header changes (Gateway API header modifiers): set replaces, add appends, remove drops. */
export interface HeaderMutation {
  set: Array<[string, string]>;
  add: Array<[string, string]>;
  remove: string[];            // lower-cased
}

/** How a redirect or rewrite changes the path. `prefix` replaces the matched segment prefix. */
export type PathRewrite =
  | { kind: 'full'; value: string }
  | { kind: 'prefix'; value: string }
  /** Envoy's regex_rewrite: every match of an RE2 pattern replaced; \1 in the substitution is group 1 */
  | { kind: 'regex'; pattern: string; substitution: string };

export interface RedirectAction {
  scheme?: string;
  host?: string;
  port?: number;
  path?: PathRewrite;
  statusCode: number;          // 301 | 302 | 303 | 307 | 308
}

export interface RewriteAction {
  host?: string;
  path?: PathRewrite;
}

export interface MirrorPolicy {
  cluster: string;
  percent: number;             // 0-100, fractions allowed
}

export interface WeightedCluster {
  cluster: string;
  weight: number;
}

export interface Route {
  name: string;
  match: PathMatch;
  clusters: WeightedCluster[]; // one entry for a plain cluster route; weights sum > 0
  timeoutMs: number;           // 0 = no route timeout (the whole request, all tries included)
  retry?: RetryPolicy;         // absent = no retries
  fault?: FaultPolicy;         // absent = no fault injection
  method?: string;             // absent = any method
  headers?: ValueMatch[];      // all must match
  queryParams?: ValueMatch[];  // all must match
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
  redirect?: RedirectAction;   // set: answer with a redirect; clusters is empty
  rewrite?: RewriteAction;
  mirrors?: MirrorPolicy[];
}

export type HttpRetryOn = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-status-codes';
/** Envoy's gRPC retry conditions, each naming one gRPC status (src/proxy/config/grpc-retry-on.ts). */
export type GrpcRetryOn = 'cancelled' | 'deadline-exceeded' | 'internal' | 'resource-exhausted' | 'unavailable';
export type RetryOn = HttpRetryOn | GrpcRetryOn;

export interface RetryPolicy {
  maxRetries: number;           // retries after the first try
  retryOn: RetryOn[];           // gateway-error = 502/503/504; the gRPC conditions also give retryOnGrpcStatus
  retriableStatusCodes: number[];
  /**
   * gRPC status codes to retry, ascending (cancelled 1, deadline-exceeded 4, resource-exhausted 8,
   * internal 13, unavailable 14), from the gRPC conditions in retryOn; absent = none. As in Envoy,
   * the status is read from the response headers (a trailers-only response): a grpc-status that
   * arrives in trailers after a response body was forwarded cannot be retried.
   */
  retryOnGrpcStatus?: number[];
  perTryTimeoutMs: number;      // 0 = only the route timeout
  backoffBaseMs: number;        // exponential backoff with full jitter
  backoffMaxMs: number;
  /** Retry non-idempotent methods too (their body must fit in maxBufferBytes). */
  nonIdempotent: boolean;
  maxBufferBytes: number;       // a request body larger than this is never retried
}

export interface FaultPolicy {
  delay?: { percent: number; delayMs: number };      // percent 0-100, fractions allowed
  abort?: { percent: number; httpStatus: number };
}

export type LbPolicy =
  | { kind: 'round-robin' }
  | { kind: 'least-request'; choiceCount: number }
  | { kind: 'peak-ewma'; decayMs: number; defaultRttMs: number };

export interface CircuitBreakers {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

export interface RetryBudget {
  ratio: number;            // retries may add at most this share of requests (0.2)
  minRetriesPerSecond: number;
  windowMs: number;
}

export interface OutlierDetection {
  consecutiveFailures: number;   // 5xx or connection failures in a row (0 = off)
  intervalMs: number;            // how often ejections are reconsidered
  baseEjectionMs: number;        // ejection time = base × times ejected, capped, with jitter
  maxEjectionMs: number;
  maxEjectionPercent: number;    // never eject more than this share of a cluster (never the last host)
  successRate?: { minimumHosts: number; requestVolume: number; stdevFactor: number };
}

export interface ClusterConfig {
  name: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;         // pooled upstream connections idle longer are closed
  /** Requests one upstream connection may carry, then it closes (1 = a new connection per request); absent or 0 = no limit. */
  maxRequestsPerConnection?: number;
  lbPolicy: LbPolicy;
  circuitBreakers: CircuitBreakers;
  retryBudget: RetryBudget;
  outlierDetection?: OutlierDetection;   // absent = off
  /** EDS service name, or the cluster name; STATIC clusters carry inline endpoints instead. */
  edsServiceName?: string;
  staticEndpoints?: EndpointConfig[];
  /** STRICT_DNS: the sidecar resolves these endpoints' host names (strict-dns-resolver.ts); every address found is an endpoint. */
  dns?: DnsDiscovery;
  /** mTLS to endpoints marked `tls` (transport_socket_matches): the peer must hold one of these SPIFFE ids. */
  upstreamTls?: { subjectAltNames: string[]; alpn: string[]; sni: string };
  /**
   * How requests travel to the endpoints (typed_extension_protocol_options' HttpProtocolOptions,
   * docs/xds.md "Upstream protocol"): HTTP/1.1 keep-alive sockets, or HTTP/2 streams multiplexed
   * on a few sessions (over mTLS with ALPN h2, else h2c), or 'downstream': each request in the
   * protocol it came in (Envoy's USE_DOWNSTREAM_PROTOCOL; an app behind a port without a protocol).
   * Absent = 'http1'.
   */
  upstreamProtocol?: UpstreamProtocol;
  /** Settings of the HTTP/2 sessions when upstreamProtocol is 'h2' or 'downstream'; absent = the defaults. */
  http2?: Http2Options;
}

export type UpstreamProtocol = 'http1' | 'h2' | 'downstream';

/** Which address families a host name's lookup keeps (Envoy's dns_lookup_family). */
export type DnsLookupFamily = 'v4-only' | 'v6-only' | 'v4-preferred' | 'auto' | 'all';

export interface DnsDiscovery {
  /** The load_assignment's endpoints; an address that is a host name stands for all it resolves to. */
  targets: EndpointConfig[];
  /** Resolve again this often (dns_refresh_rate). */
  refreshMs: number;
  family: DnsLookupFamily;
}

export interface Http2Options {
  /** Cap on streams per session (the peer's SETTINGS may lower it). */
  maxConcurrentStreams: number;
  initialStreamWindowSize: number;
  initialConnectionWindowSize: number;
  /** PING a session this often; 0 = never. */
  keepaliveIntervalMs: number;
  /** A PING not answered within this declares the session dead. */
  keepaliveTimeoutMs: number;
}

export interface EndpointConfig {
  address: string;
  port: number;
  weight: number;
  healthy: boolean;
  zone: string;
  /** Absent = '' (a static endpoint, or an EDS locality without one). */
  region?: string;
  /** EDS priority of its locality (0 = preferred; docs/xds.md "Endpoints"); absent = 0. */
  priority?: number;
  labels: Record<string, string>;
  /** The peer's sidecar holds a mesh certificate: use the cluster's upstreamTls (tlsMode "mtls"). */
  tls?: boolean;
}

export interface ClusterLoadAssignment {
  clusterName: string;
  endpoints: EndpointConfig[];
}

/** One complete, consistent config the data path can switch to atomically. */
export interface ProxyConfig {
  version: string;
  listeners: ListenerConfig[];
  routes: Map<string, RouteTable>;
  clusters: Map<string, ClusterConfig>;
  endpoints: Map<string, ClusterLoadAssignment>;
}
