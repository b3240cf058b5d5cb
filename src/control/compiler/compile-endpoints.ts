import { toStruct } from '../../xds/node.js';
import type { Instance } from '../registry.js';
import { serviceMembers, type MeshService } from './mesh-services.js';
import { compareStrings, socketAddress, type XdsObject } from './xds-object.js';

/**
 * The ClusterLoadAssignment of a service. Instances without a local app (an ingress, a
 * proxyless client) have nothing listening on their inbound port, so they are never endpoints.
 */
export function compileEndpoints(svc: MeshService, instances: readonly Instance[]): XdsObject {
  const members = serviceMembers(svc, instances)
    .filter((inst) => inst.app)
    .sort((a, b) => compareStrings(a.region, b.region) || compareStrings(a.zone, b.zone)
      || compareStrings(a.address, b.address) || a.inboundPort - b.inboundPort || compareStrings(a.proxyId, b.proxyId));
  const localities: { region: string; zone: string; lbEndpoints: XdsObject[] }[] = [];
  for (const inst of members) {
    let loc = localities[localities.length - 1];
    if (!loc || loc.region !== inst.region || loc.zone !== inst.zone) {
      loc = { region: inst.region, zone: inst.zone, lbEndpoints: [] };
      localities.push(loc);
    }
    loc.lbEndpoints.push({
      endpoint: { address: socketAddress(inst.address, inst.inboundPort) },
      health_status: inst.state === 'draining' ? 'DRAINING' : 'HEALTHY',
      load_balancing_weight: { value: 1 },
      metadata: { filter_metadata: { trellis: toStruct(inst.labels) } },
    });
  }
  return {
    cluster_name: svc.key,
    endpoints: localities.map((loc) => ({
      locality: { region: loc.region, zone: loc.zone },
      // gRPC clients drop a locality that has no weight
      load_balancing_weight: { value: loc.lbEndpoints.length },
      lb_endpoints: loc.lbEndpoints,
    })),
  };
}
