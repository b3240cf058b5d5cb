import type { NodeInfo } from '../../xds/node.js';
import type { MeshService } from './mesh-services.js';
import { adsConfigSource, durationFromMs, socketAddress, type XdsObject } from './xds-object.js';

export const INBOUND_LOCAL_CLUSTER = 'inbound|local';
const CONNECT_TIMEOUT_MS = 1000;

/** One EDS cluster per mesh service, plus the local app's static cluster for a node that fronts one. */
export function compileClusters(services: readonly MeshService[], node: NodeInfo): XdsObject[] {
  const clusters: XdsObject[] = services.map((svc) => ({
    name: svc.key,
    type: 'EDS',
    eds_cluster_config: { eds_config: adsConfigSource, service_name: svc.key },
    connect_timeout: durationFromMs(CONNECT_TIMEOUT_MS),
    lb_policy: 'ROUND_ROBIN',
  }));
  if (node.app) {
    clusters.push({
      name: INBOUND_LOCAL_CLUSTER,
      type: 'STATIC',
      connect_timeout: durationFromMs(CONNECT_TIMEOUT_MS),
      lb_policy: 'ROUND_ROBIN',
      load_assignment: {
        cluster_name: INBOUND_LOCAL_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(node.app.address, node.app.port) } }] }],
      },
    });
  }
  return clusters;
}
