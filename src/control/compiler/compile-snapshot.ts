import type { Resource } from '../../resources/kinds.js';
import type { NodeInfo } from '../../xds/node.js';
import { typeUrls } from '../../xds/type-urls.js';
import type { Instance } from '../registry.js';
import { compileClusters } from './compile-clusters.js';
import { compileEndpoints } from './compile-endpoints.js';
import { compileApiListener, compileListeners } from './compile-listeners.js';
import { compileHcmTelemetry } from './compile-telemetry.js';
import { compileOutboundRoutes, compileServiceRoutes, routesByParent } from './compile-routes.js';
import { meshServices, serviceKey, type MeshService } from './mesh-services.js';
import { indexPolicies } from './resilience-policies.js';
import { compileExternalCluster } from './compile-external-services.js';
import { externalServices } from './route-status.js';
import type { XdsObject } from './xds-object.js';
import { secureSnapshot } from './compile-mesh-security.js';

export interface MeshState {
  resources: readonly Resource[];
  instances: readonly Instance[];
  /** Proxies that hold a valid certificate from the CA: their endpoints get mTLS. */
  certified?: ReadonlySet<string>;
}

/** One proxy's config: per type URL, the resources by name. */
export type Snapshot = Map<string, Map<string, XdsObject>>;

function byName(objects: XdsObject[], nameField = 'name'): Map<string, XdsObject> {
  return new Map(objects.map((o) => [o[nameField] as string, o]));
}

/**
 * Everything one proxy should hold (docs/xds.md). `listenerNames` are listeners a client asked
 * for by name; names that are not a sidecar listener but name a service (a proxyless gRPC
 * client's `xds:///` target) get an API listener.
 */
export function compileSnapshot(state: MeshState, node: NodeInfo, listenerNames: readonly string[] = [], opts: { proxyless?: boolean } = {}): Snapshot {
  const services = meshServices(state.resources, state.instances);
  const policies = indexPolicies(state.resources, services);
  const proxyless = opts.proxyless ?? false;
  const listeners = byName(compileListeners(node, proxyless ? {} : compileHcmTelemetry(state.resources)));
  const extra = listenerNames.filter((n) => !listeners.has(n));
  if (extra.length) {
    const attached = routesByParent(state.resources, services);
    for (const name of extra) {
      const svc = serviceForTarget(name, services, node.namespace);
      if (svc) listeners.set(name, compileApiListener(name, compileServiceRoutes(svc, attached.get(svc.key) ?? [], { policies, proxyless })));
    }
  }
  const routes = compileOutboundRoutes(services, state.resources, node, policies);
  const snapshot: Snapshot = new Map([
    [typeUrls.cluster, byName([
      ...compileClusters(services, node, policies, proxyless),
      ...externalServices(state.resources, services).map((e) => compileExternalCluster(e, proxyless)),
    ])],
    [typeUrls.clusterLoadAssignment, byName(services.map((svc) => compileEndpoints(svc, state.instances, node)), 'cluster_name')],
    [typeUrls.listener, listeners],
    [typeUrls.routeConfiguration, new Map([[routes.name as string, routes]])],
  ]);
  secureSnapshot({ listeners, clusters: snapshot.get(typeUrls.cluster)!, endpoints: snapshot.get(typeUrls.clusterLoadAssignment)! },
    { resources: state.resources, instances: state.instances, services, certified: state.certified ?? new Set() }, node, proxyless);
  return snapshot;
}

/** `greeter`, `greeter:50051`, `greeter.ns`, `greeter.ns.svc[.cluster.local]` → that service. */
export function serviceForTarget(target: string, services: readonly MeshService[], namespace: string): MeshService | undefined {
  const host = target.replace(/:\d+$/, '').replace(/\.svc(\.cluster\.local)?$/, '');
  const dot = host.indexOf('.');
  const key = dot < 0 ? serviceKey(host, namespace) : host;
  return services.find((s) => s.key === key);
}
