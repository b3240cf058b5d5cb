import { toStruct } from '../../xds/node.js';
import type { Instance } from '../registry.js';
import { serviceMembers, type MeshService } from './mesh-services.js';
import { compareStrings, socketAddress, type XdsObject } from './xds-object.js';

/** Where the proxy that asks for the endpoints runs. */
export interface ClientLocality {
  region: string;
  zone: string;
}

/**
 * Envoy's priority by locality distance from the client: its own zone 0, its region 1, elsewhere
 * 2. A client that says nowhere (no region, no zone) prefers nothing: everything is priority 0.
 */
export function localityDistance(client: ClientLocality | undefined, region: string, zone: string): number {
  if (!client || (client.region === '' && client.zone === '')) return 0;
  if (region !== client.region) return 2;
  return zone === client.zone ? 0 : 1;
}

/**
 * The ClusterLoadAssignment of a service, as seen from `client` (each locality's `priority` is its
 * distance from the client, renumbered without gaps because Envoy and gRPC require contiguous
 * priorities). Instances without a local app (an ingress, a proxyless client) have nothing
 * listening on their inbound port, so they are never endpoints.
 */
export function compileEndpoints(svc: MeshService, instances: readonly Instance[], client?: ClientLocality): XdsObject {
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
  const distances = localities.map((loc) => localityDistance(client, loc.region, loc.zone));
  const used = [...new Set(distances)].sort((a, b) => a - b);
  const ordered = localities.map((loc, i) => ({ loc, priority: used.indexOf(distances[i]) }))
    .sort((a, b) => a.priority - b.priority);
  return {
    cluster_name: svc.key,
    endpoints: ordered.map(({ loc, priority }) => ({
      locality: { region: loc.region, zone: loc.zone },
      // gRPC clients drop a locality that has no weight
      load_balancing_weight: { value: loc.lbEndpoints.length },
      ...(priority > 0 ? { priority } : {}),
      lb_endpoints: loc.lbEndpoints,
    })),
  };
}
