// The Envoy extensions that carry mTLS and authorization (docs/xds.md, "mTLS" and
// "Authorization"): shared by the control plane's compiler and the sidecar's decoders.
const prefix = 'type.googleapis.com/';

export const securityTypeUrls = {
  upstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  downstreamTlsContext: `${prefix}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  rbac: `${prefix}envoy.extensions.filters.http.rbac.v3.RBAC`,
  tlsInspector: `${prefix}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
} as const;

export const tlsTransportSocketName = 'envoy.transport_sockets.tls';
export const rbacFilterName = 'envoy.filters.http.rbac';
export const tlsInspectorName = 'envoy.filters.listener.tls_inspector';
/** Istio's convention: endpoints whose filter_metadata["envoy.transport_socket_match"] has this get mTLS. */
export const transportSocketMatchKey = 'envoy.transport_socket_match';
export const tlsModeKey = 'tlsMode';
export const tlsModeMtls = 'mtls';
/** The name of the cluster's transport_socket_matches entry. */
export const mtlsMatchName = 'trellis-mtls';
