import type { AuthorizationPolicy } from '../../resources/authorization-policy.js';
import type { GRPCRoute } from '../../resources/grpc-route.js';
import type { HTTPRoute } from '../../resources/http-route.js';
import { authorizationStatus } from '../compiler/compile-authorization.js';
import type { ResiliencePolicy } from '../../resources/resilience-policy.js';
import type { Service } from '../../resources/service.js';
import { meshServices, serviceKey, serviceMembers } from '../compiler/mesh-services.js';
import { indexPolicies } from '../compiler/resilience-policies.js';
import { routeStatuses } from '../compiler/route-status.js';
import { nodeClashes, tcpPlan } from '../compiler/compile-tcp.js';
import type { Instance } from '../registry.js';
import type { StoredResource } from '../store/store.js';
import { endpointKey, type EndpointLiveState } from './endpoint-live-state.js';

// Rows of the read endpoints, in the shapes shared/DESIGN.md §4 gives for `trellis get -o json`.

export interface EndpointRow {
  service: string;
  namespace: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  zone: string;
  region: string;
  /** draining: its sidecar disconnected (control plane); ejected: a sidecar's outlier detection took it out */
  state: 'healthy' | 'ejected' | 'draining';
  proxyId: string;
  // measured by the sidecars (EndpointLiveState says how they are merged); null when none answered
  ejectedUntil: string | null;
  inFlight: number | null;
  ewmaMs: number | null;
}

/** One row per (service, instance) pair, as the sidecars receive them over EDS, with the sidecars' live view. */
export function endpointRows(resources: readonly StoredResource[], instances: readonly Instance[], live: ReadonlyMap<string, EndpointLiveState> = new Map()): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const svc of meshServices(resources, instances)) {
    for (const inst of serviceMembers(svc, instances)) {
      if (!inst.app) continue;
      const l = live.get(endpointKey(svc.key, inst.address, inst.inboundPort));
      const state = inst.state === 'draining' ? 'draining' : l?.ejected ? 'ejected' : 'healthy';
      rows.push({
        service: svc.name, namespace: svc.namespace, address: inst.address, port: inst.inboundPort, labels: inst.labels,
        zone: inst.zone, region: inst.region, state, proxyId: inst.proxyId,
        ejectedUntil: l?.ejected ? l.ejectedUntil : null, inFlight: l?.inFlight ?? null, ewmaMs: l?.ewmaMs ?? null,
      });
    }
  }
  return rows;
}

/** ResiliencePolicies as applied, with whether each is in force and, if not, why. */
export function policyRows(resources: readonly StoredResource[], instances: readonly Instance[]): Record<string, unknown>[] {
  const services = meshServices(resources, instances);
  const index = indexPolicies(resources, services);
  return [
    ...resources.filter((r): r is StoredResource & ResiliencePolicy => r.kind === 'ResiliencePolicy')
      .map((r) => ({ ...r, status: index.status.get(r) ?? { accepted: true } })),
    ...resources.filter((r): r is StoredResource & AuthorizationPolicy => r.kind === 'AuthorizationPolicy')
      .map((r) => ({ ...r, status: authorizationStatus(r, services) })),
  ];
}

export function proxyRows(instances: readonly Instance[]): Record<string, unknown>[] {
  return instances.map((inst) => ({
    id: inst.proxyId,
    service: inst.service,
    namespace: inst.namespace,
    address: inst.address,
    adminPort: inst.adminPort,
    labels: inst.labels,
    zone: inst.zone,
    region: inst.region,
    state: inst.state,
    connected: inst.connected,
    connectedAt: inst.connectedAt,
    disconnectedAt: inst.disconnectedAt,
    // when the sidecar process started: its uptime (null from sidecars that do not say)
    startedAt: inst.startedAt ?? null,
    // the control-plane replica holding its xDS stream (the last one, once disconnected)
    controlReplica: inst.controlReplica ?? null,
    ackedVersion: inst.ackedVersion,
    sentVersion: inst.sentVersion,
    // store revisions (apply --wait): the newest one this proxy's sent / ACKed snapshot reflects
    sentRevision: inst.sentRevision ?? null,
    ackedRevision: inst.ackedRevision ?? null,
    lastNack: inst.lastNack ? { version: inst.lastNack.version, error: inst.lastNack.error } : null,
  }));
}

export function serviceRows(resources: readonly StoredResource[], instances: readonly Instance[]): Record<string, unknown>[] {
  const services = meshServices(resources, instances);
  const tcp = tcpPlan(resources);
  return resources.filter((r): r is StoredResource & Service => r.kind === 'Service').map((r) => {
    const svc = services.find((s) => s.key === serviceKey(r.metadata.name, r.metadata.namespace))!;
    const members = serviceMembers(svc, instances).filter((i) => i.app);
    const status: Record<string, unknown> = { clusterIP: svc.address ?? null, endpoints: members.filter((i) => i.state !== 'draining').length, draining: members.filter((i) => i.state === 'draining').length };
    // tcp ports that some or all sidecars cannot listen on (compile-tcp.ts), said plainly
    const conflicts = [...(tcp.conflicts.get(svc.key) ?? []), ...nodeClashes(tcp, svc.key, instances.filter((i) => i.connected), (inst, key) => {
      const owner = services.find((x) => x.key === key);
      return owner !== undefined && serviceMembers(owner, [inst]).length > 0;
    })];
    if (conflicts.length) status.portConflicts = conflicts;
    return { ...r, status };
  });
}

export function routeRows(resources: readonly StoredResource[], instances: readonly Instance[]): Record<string, unknown>[] {
  const statuses = routeStatuses(resources, meshServices(resources, instances));
  return resources.filter((r): r is StoredResource & HTTPRoute => r.kind === 'HTTPRoute').map((r) => ({ ...r, status: statuses.get(r) ?? { accepted: true } }));
}

/** GRPCRoutes as applied, with their status (a conflict with an HTTPRoute is impossible: see routeStatuses). */
export function grpcRouteRows(resources: readonly StoredResource[], instances: readonly Instance[]): Record<string, unknown>[] {
  const statuses = routeStatuses(resources, meshServices(resources, instances));
  return resources.filter((r): r is StoredResource & GRPCRoute => r.kind === 'GRPCRoute').map((r) => ({ ...r, status: statuses.get(r) ?? { accepted: true } }));
}
