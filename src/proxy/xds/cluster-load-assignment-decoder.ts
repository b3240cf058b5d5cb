// ClusterLoadAssignment (EDS, or a STATIC cluster's load_assignment) → endpoints with weight,
// health, zone and Trellis labels (docs/xds.md, "Endpoints").
import type { ClusterLoadAssignment, EndpointConfig } from '../config/proxy-config.js';
import { findUnknownTypedExtension, socketAddress, trellisLabels } from './xds-decode-fields.js';
import { markTlsEndpoints } from './cluster-security-decoder.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

/** Envoy's bound on priority levels; the cluster keeps one balancer per level in use. */
export const maxPriority = 127;

// Envoy routes to UNKNOWN hosts as if healthy (no active health checking is configured).
const healthyStatuses = new Set([undefined, 'UNKNOWN', 'HEALTHY']);

export function decodeClusterLoadAssignment(cla: ProtoObject): DecodeResult<ClusterLoadAssignment> {
  const clusterName = typeof cla.cluster_name === 'string' ? cla.cluster_name : '';
  if (!clusterName) return refused('cluster load assignment: cluster_name is required');
  const endpoints = decodeEndpoints(cla);
  if (!endpoints.ok) return refused(`cluster load assignment "${clusterName}": ${endpoints.error}`);
  const unknown = findUnknownTypedExtension(cla);
  if (unknown) return refused(`cluster load assignment "${clusterName}": ${unknown}`);
  markTlsEndpoints(cla, endpoints.value);
  return decoded({ clusterName, endpoints: endpoints.value });
}

/** The endpoints of a ClusterLoadAssignment; errors name the field but not the resource. */
export function decodeEndpoints(cla: ProtoObject): DecodeResult<EndpointConfig[]> {
  if (cla.named_endpoints && Object.keys(cla.named_endpoints).length > 0) return refused('named_endpoints are not supported');
  const out: EndpointConfig[] = [];
  for (const [i, locality] of ((cla.endpoints ?? []) as ProtoObject[]).entries()) {
    if (locality.load_balancer_endpoints || locality.leds_cluster_locality_config) return refused(`endpoints[${i}]: LEDS is not supported`);
    const zone = typeof locality.locality?.zone === 'string' ? locality.locality.zone : '';
    const region = typeof locality.locality?.region === 'string' ? locality.locality.region : '';
    const priority = locality.priority === undefined || locality.priority === null ? 0 : Number(locality.priority);
    if (!Number.isInteger(priority) || priority < 0 || priority > maxPriority) return refused(`endpoints[${i}].priority: must be an integer from 0 to ${maxPriority}`);
    for (const [j, lbe] of ((locality.lb_endpoints ?? []) as ProtoObject[]).entries()) {
      const where = `endpoints[${i}].lb_endpoints[${j}]`;
      if (lbe.endpoint_name) return refused(`${where}: endpoint_name is not supported`);
      const addr = socketAddress(lbe.endpoint?.address);
      if (typeof addr === 'string') return refused(`${where}.endpoint: ${addr}`);
      const weight = lbe.load_balancing_weight ? Number(lbe.load_balancing_weight.value ?? 0) : 1;
      if (!Number.isInteger(weight) || weight < 1) return refused(`${where}: load_balancing_weight must be at least 1`);
      out.push({
        address: addr.address,
        port: addr.port,
        weight,
        healthy: healthyStatuses.has(lbe.health_status),
        zone,
        labels: trellisLabels(lbe.metadata),
        // only when set, so static endpoints and single-locality clusters look as they always did
        ...(region ? { region } : {}),
        ...(priority ? { priority } : {}),
      });
    }
  }
  return decoded(out);
}
