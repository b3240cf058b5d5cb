import type { ExternalService } from '../../resources/external-service.js';
import { clusterResilienceFields } from './compile-resilience.js';
import { compileServiceRoutes, type RouteCompileOptions } from './compile-routes.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import type { MeshRoute } from './route-status.js';
import { clusterResilience } from './resilience-merge.js';
import { socketAddress, type XdsObject } from './xds-object.js';

/** An ExternalService as the route compiler sees it: a service whose cluster is STATIC. */
export function externalAsService(ext: ExternalService): MeshService {
  const namespace = ext.metadata.namespace ?? 'default';
  return { name: ext.metadata.name, namespace, key: serviceKey(ext.metadata.name, namespace) };
}

/**
 * A STATIC cluster (docs/xds.md, "External services"): one endpoint per address at the service's
 * port, with the same resilience defaults as a mesh cluster. The sidecar connects to it in
 * plain HTTP, without mTLS: there is no sidecar at the other end.
 */
export function compileExternalCluster(ext: ExternalService, proxyless = false): XdsObject {
  const key = externalAsService(ext).key;
  const port = ext.spec.ports[0].port;
  const base: XdsObject = {
    name: key,
    type: 'STATIC',
    load_assignment: {
      cluster_name: key,
      endpoints: [{ lb_endpoints: ext.spec.addresses.map((a) => ({ endpoint: { address: socketAddress(a, port) }, load_balancing_weight: { value: 1 } })) }],
    },
  };
  if (proxyless) return { ...base, connect_timeout: { seconds: 1 }, lb_policy: 'ROUND_ROBIN' };
  return { ...base, ...clusterResilienceFields(clusterResilience(undefined)) };
}

/** The virtual host for its host names, with the routes attached to it or one catch-all. */
export function compileExternalVirtualHost(ext: ExternalService, routes: readonly MeshRoute[], opts: RouteCompileOptions): XdsObject {
  const svc = externalAsService(ext);
  return { name: svc.key, domains: [...ext.spec.hosts], routes: compileServiceRoutes(svc, routes, opts) };
}
