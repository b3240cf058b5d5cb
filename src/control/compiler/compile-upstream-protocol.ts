// Which HTTP version each cluster speaks to its endpoints (docs/xds.md, "Upstream protocol"),
// as Envoy's HttpProtocolOptions in typed_extension_protocol_options:
// - a mesh service's cluster reaches peer sidecars, which speak both HTTP/1.1 and HTTP/2. By
//   the h2UpgradePolicy (MeshConfig, overridden per Service by a ResiliencePolicy):
//   DO_NOT_UPGRADE (the default, as in Istio) sends each request in the version it came in
//   (use_downstream_protocol_config: HTTP/1.1 on keep-alive connections, h2c/gRPC as streams);
//   UPGRADE sends requests of any version as streams multiplexed on a few mTLS (ALPN h2) or h2c
//   connections (Linkerd's transparent upgrade). Either way a request comes out on the other
//   side in the version the app there speaks;
// - the inbound cluster reaches the local app in the protocol its Service port declares:
//   h2c for `http2` and `grpc`, HTTP/1.1 for `http` (and without a Service); a port without a
//   protocol (`auto`) gets each request in the protocol it came in, Envoy's
//   use_downstream_protocol_config: HTTP/1 stays HTTP/1 (the peer sidecar marks what it carried
//   over HTTP/2 as HTTP/1, forward-headers.ts), h2c and gRPC go as h2c.
import type { H2UpgradePolicy } from '../../resources/mesh-config.js';
import type { Protocol, Service } from '../../resources/service.js';
import { httpProtocolOptionsKey, typeUrls } from '../../xds/type-urls.js';
import type { NodeInfo } from '../../xds/node.js';
import { packMessage } from './pack.js';
import { durationFromMs, type XdsObject } from './xds-object.js';

/** Session settings between sidecars: Envoy-like windows, a PING every 10 s answered within 5 s. */
const meshHttp2Options: XdsObject = {
  max_concurrent_streams: { value: 100 },
  initial_stream_window_size: { value: 256 * 1024 },
  initial_connection_window_size: { value: 1024 * 1024 },
  connection_keepalive: { interval: durationFromMs(10_000), timeout: durationFromMs(5_000) },
};

export function http2ProtocolOptions(): XdsObject {
  return { [httpProtocolOptionsKey]: packMessage(typeUrls.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: meshHttp2Options } }) };
}

let downstreamOptions: ReturnType<typeof packMessage> | undefined;

/** Each request in its downstream's protocol (the local app on a port without a protocol; peers under DO_NOT_UPGRADE). */
export function withDownstreamProtocol(cluster: XdsObject): XdsObject {
  // the same for every node: packed once, not once per proxy per pass
  const options = (downstreamOptions ??= packMessage(typeUrls.httpProtocolOptions, { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: meshHttp2Options } }));
  return { ...cluster, typed_extension_protocol_options: { ...((cluster.typed_extension_protocol_options ?? {}) as XdsObject), [httpProtocolOptionsKey]: options } };
}

/** Adds HTTP/2 to a cluster's typed_extension_protocol_options (keeping what is there). */
export function withHttp2(cluster: XdsObject): XdsObject {
  return { ...cluster, typed_extension_protocol_options: { ...((cluster.typed_extension_protocol_options ?? {}) as XdsObject), ...http2ProtocolOptions() } };
}

/**
 * The protocol of the local app: the port of the node's own Service whose number is the app's
 * port, else the Service's only port; `http` when there is no Service.
 */
export function appProtocol(node: NodeInfo, own: Service | undefined): Protocol {
  const ports = own?.spec.ports ?? [];
  const byPort = ports.find((p) => p.port === node.app?.port);
  return (byPort ?? (ports.length === 1 ? ports[0] : undefined))?.protocol ?? 'http';
}

/** How a mesh service's cluster reaches the peer sidecars, by the h2UpgradePolicy in force for it. */
export function withMeshProtocol(cluster: XdsObject, policy: H2UpgradePolicy): XdsObject {
  return policy === 'UPGRADE' ? withHttp2(cluster) : withDownstreamProtocol(cluster);
}

export function speaksHttp2(protocol: Protocol): boolean {
  return protocol === 'http2' || protocol === 'grpc';
}
