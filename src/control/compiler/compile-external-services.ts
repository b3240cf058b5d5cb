import { isDnsAddress, type ExternalService } from '../../resources/external-service.js';
import { durationMs } from '../../resources/resilience-policy.js';
import { clusterResilienceFields } from './compile-resilience.js';
import { compileServiceRoutes, type RouteCompileOptions } from './compile-routes.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import type { MeshRoute } from './route-status.js';
import { clusterResilience } from './resilience-merge.js';
import { durationFromMs, socketAddress, type XdsObject } from './xds-object.js';

/** How often a sidecar resolves an ExternalService's host names again unless it says otherwise. */
export const defaultDnsRefreshMs = 30_000;

/** An ExternalService as the route compiler sees it: a service whose cluster the control plane makes from its spec. */
export function externalAsService(ext: ExternalService): MeshService {
  const namespace = ext.metadata.namespace ?? 'default';
  return { name: ext.metadata.name, namespace, key: serviceKey(ext.metadata.name, namespace) };
}

/** The cluster of one of its ports: the first (default) port's is the service's key, another's `<key>:<port>`. */
export function externalClusterName(ext: ExternalService, port: number): string {
  const key = externalAsService(ext).key;
  return port === ext.spec.ports[0].port ? key : `${key}:${port}`;
}

/**
 * One cluster per port (docs/xds.md, "External services"), with the same resilience defaults as
 * a mesh cluster. IP addresses only: STATIC. Any host name: STRICT_DNS (the sidecar resolves each
 * name, every address is an endpoint, again every dnsRefreshInterval). The sidecar connects in
 * plain HTTP, without mTLS: there is no sidecar at the other end.
 */
export function compileExternalClusters(ext: ExternalService, proxyless = false): XdsObject[] {
  return ext.spec.ports.map((p) => compileExternalCluster(ext, p.port, proxyless));
}

function compileExternalCluster(ext: ExternalService, port: number, proxyless: boolean): XdsObject {
  const name = externalClusterName(ext, port);
  const dns = ext.spec.addresses.some(isDnsAddress);
  const endpoint = (a: string) => ({ endpoint: { address: socketAddress(a, port) }, load_balancing_weight: { value: 1 } });
  if (proxyless) {
    // gRPC clients know STATIC and LOGICAL_DNS (one name, resolved by the client), not STRICT_DNS
    const addresses = dns ? [ext.spec.addresses.find(isDnsAddress)!] : ext.spec.addresses;
    return {
      name, type: dns ? 'LOGICAL_DNS' : 'STATIC', connect_timeout: { seconds: 1 }, lb_policy: 'ROUND_ROBIN',
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: addresses.map(endpoint) }] },
    };
  }
  const base: XdsObject = {
    name,
    type: dns ? 'STRICT_DNS' : 'STATIC',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ext.spec.addresses.map(endpoint) }] },
  };
  if (dns) {
    const refresh = ext.spec.dnsRefreshInterval ? durationMs(ext.spec.dnsRefreshInterval) : defaultDnsRefreshMs;
    base.dns_refresh_rate = durationFromMs(refresh);
    // `localhost` and dual-stack names: the IPv4 addresses when there are any (apps mostly listen there)
    base.dns_lookup_family = 'V4_PREFERRED';
  }
  return { ...base, ...clusterResilienceFields(clusterResilience(undefined)) };
}

/**
 * Its virtual hosts: the first port's, `<key>`, for its host names (and `host:port`), with the
 * routes attached to it or one catch-all; then one per other port, `<key>:<port>`, for
 * `host:port`, with a catch-all to that port's cluster (HTTPRoutes attach to the default port).
 */
export function compileExternalVirtualHosts(ext: ExternalService, routes: readonly MeshRoute[], opts: RouteCompileOptions): XdsObject[] {
  const svc = externalAsService(ext);
  const [first, ...others] = ext.spec.ports;
  const withPort = (port: number) => ext.spec.hosts.map((h) => `${h}:${port}`);
  const out: XdsObject[] = [{ name: svc.key, domains: [...ext.spec.hosts, ...withPort(first.port)], routes: compileServiceRoutes(svc, routes, opts) }];
  for (const p of others) {
    const portSvc: MeshService = { ...svc, key: externalClusterName(ext, p.port) };
    out.push({ name: portSvc.key, domains: withPort(p.port), routes: compileServiceRoutes(portSvc, [], opts) });
  }
  return out;
}
