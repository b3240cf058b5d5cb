import type { NodeInfo } from '../../xds/node.js';
import type { MeshService } from './mesh-services.js';
import { clusterResilienceFields } from './compile-resilience.js';
import { clusterResilience } from './resilience-merge.js';
import type { PolicyIndex } from './resilience-policies.js';
import { adsConfigSource, durationFromMs, socketAddress, type XdsObject } from './xds-object.js';
import { appProtocol, speaksHttp2, withDownstreamProtocol, withHttp2, withMeshProtocol } from './compile-upstream-protocol.js';
import type { H2UpgradePolicy } from '../../resources/mesh-config.js';
import { serviceKey } from './mesh-services.js';

export const INBOUND_LOCAL_CLUSTER = 'inbound|local';
const CONNECT_TIMEOUT_MS = 1000;

/**
 * One EDS cluster per mesh service, with its resilience settings and the HTTP version(s) its
 * h2UpgradePolicy gives the hop to the peer sidecars (compile-upstream-protocol.ts), plus the
 * local app's static cluster for a node that fronts one (HTTP/2 when its Service port says
 * http2 or grpc). A proxyless gRPC client gets plain round-robin clusters:
 * grpc-js-xds refuses any other lb_policy and knows none of Trellis's extensions.
 */
export function compileClusters(
  services: readonly MeshService[], node: NodeInfo, policies?: PolicyIndex, proxyless = false,
  /** The node's own Service, when `services` does not hold it: its port protocol says how to speak to the app. */
  ownService?: MeshService,
  /** MeshConfig h2UpgradePolicy: a ResiliencePolicy's connectionPool may override it per Service. */
  meshUpgrade: H2UpgradePolicy = 'DO_NOT_UPGRADE',
): XdsObject[] {
  const clusters: XdsObject[] = services.map((svc) => {
    const base: XdsObject = { name: svc.key, type: 'EDS', eds_cluster_config: { eds_config: adsConfigSource, service_name: svc.key } };
    if (proxyless) return { ...base, connect_timeout: durationFromMs(CONNECT_TIMEOUT_MS), lb_policy: 'ROUND_ROBIN' };
    const resilience = clusterResilience(policies?.services.get(svc.key));
    return withMeshProtocol({ ...base, ...clusterResilienceFields(resilience) }, resilience.h2UpgradePolicy ?? meshUpgrade);
  });
  if (node.app) {
    const own = (ownService ?? services.find((s) => s.key === serviceKey(node.service, node.namespace)))?.resource;
    const local: XdsObject = {
      name: INBOUND_LOCAL_CLUSTER,
      type: 'STATIC',
      connect_timeout: durationFromMs(CONNECT_TIMEOUT_MS),
      lb_policy: 'ROUND_ROBIN',
      load_assignment: {
        cluster_name: INBOUND_LOCAL_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(node.app.address, node.app.port) } }] }],
      },
    };
    const protocol = appProtocol(node, own);
    clusters.push(speaksHttp2(protocol) ? withHttp2(local) : protocol === 'auto' ? withDownstreamProtocol(local) : local);
  }
  return clusters;
}
