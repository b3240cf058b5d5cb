// Type URLs of the xDS resources and typed extensions Trellis speaks (shared/DESIGN.md §2).
const prefix = 'type.googleapis.com/';

export const typeUrls = {
  listener: `${prefix}envoy.config.listener.v3.Listener`,
  routeConfiguration: `${prefix}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${prefix}envoy.config.cluster.v3.Cluster`,
  clusterLoadAssignment: `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  secret: `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`,
  httpConnectionManager: `${prefix}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  router: `${prefix}envoy.extensions.filters.http.router.v3.Router`,
  /** Raw TCP (docs/protocols.md): the network filter of TCP listeners. */
  tcpProxy: `${prefix}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  /** Protocol detection: the listener filter that sniffs HTTP/1 and h2c. */
  httpInspector: `${prefix}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  /** Cluster typed_extension_protocol_options: which HTTP version the cluster's endpoints speak. */
  httpProtocolOptions: `${prefix}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
} as const;

/** The key of HttpProtocolOptions in a Cluster's typed_extension_protocol_options (Envoy's name). */
export const httpProtocolOptionsKey = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** The order a server sends, and a client subscribes: clusters before endpoints, listeners before routes (Envoy's ADS rule). */
export const adsOrder = [typeUrls.cluster, typeUrls.clusterLoadAssignment, typeUrls.listener, typeUrls.routeConfiguration] as const;

export function messageNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}
