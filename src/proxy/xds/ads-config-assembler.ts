// Builds one complete ProxyConfig from the accepted resources, or says what is still missing.
// The data path switches configs atomically, so it must never receive a listener whose route
// table, or a cluster whose endpoints, have not arrived yet.
import type { ClusterConfig, ClusterLoadAssignment, ListenerConfig, ProxyConfig, RouteTable } from '../config/proxy-config.js';
import { decoded, refused, type DecodeResult } from './xds-decode-result.js';

export interface AcceptedResources {
  listeners: ReadonlyMap<string, ListenerConfig>;
  routes: ReadonlyMap<string, RouteTable>;
  clusters: ReadonlyMap<string, ClusterConfig>;
  assignments: ReadonlyMap<string, ClusterLoadAssignment>;
}

/** EDS names to subscribe to: those of the EDS clusters, sorted. */
export function edsNamesOf(clusters: Iterable<ClusterConfig>): string[] {
  const names = new Set<string>();
  for (const c of clusters) if (c.edsServiceName !== undefined) names.add(c.edsServiceName);
  return [...names].sort();
}

/** RDS names to subscribe to: those the listeners reference without an inline route config, sorted. */
export function rdsNamesOf(listeners: Iterable<ListenerConfig>): string[] {
  const names = new Set<string>();
  for (const l of listeners) if (!l.inlineRoutes && (!l.tcpProxy || l.detect)) names.add(l.routeConfigName);
  return [...names].sort();
}

/**
 * `endpoints` is keyed by cluster name and holds STATIC clusters' inline endpoints too, so the
 * data path has one place to look.
 */
export function assembleProxyConfig(version: string, accepted: AcceptedResources): DecodeResult<ProxyConfig> {
  const missing: string[] = [];
  const listeners = [...accepted.listeners.values()].sort(byName);
  const routes = new Map<string, RouteTable>();
  for (const l of listeners) {
    if (l.tcpProxy && !l.detect) continue; // a TCP listener has no routes (a detecting one routes its HTTP)
    const table = l.inlineRoutes ?? accepted.routes.get(l.routeConfigName);
    if (table) routes.set(table.name, table);
    else missing.push(`route configuration "${l.routeConfigName}" (listener "${l.name}")`);
  }
  const clusters = new Map<string, ClusterConfig>();
  const endpoints = new Map<string, ClusterLoadAssignment>();
  for (const c of [...accepted.clusters.values()].sort(byName)) {
    clusters.set(c.name, c);
    if (c.staticEndpoints) {
      endpoints.set(c.name, { clusterName: c.name, endpoints: c.staticEndpoints });
    } else if (c.dns) {
      // resolved by the data path (strict-dns-resolver.ts), nothing to wait for
    } else {
      const cla = accepted.assignments.get(c.edsServiceName ?? c.name);
      if (cla) endpoints.set(c.name, cla);
      else missing.push(`cluster load assignment "${c.edsServiceName ?? c.name}" (cluster "${c.name}")`);
    }
  }
  if (missing.length > 0) return refused(`waiting for ${missing.join(', ')}`);
  return decoded({ version, listeners, routes, clusters, endpoints });
}

/** A canonical text of a config's content (not its version), to tell whether anything changed. */
export function configFingerprint(config: ProxyConfig): string {
  return JSON.stringify([
    config.listeners,
    [...config.routes.entries()].sort(byKey),
    [...config.clusters.entries()].sort(byKey),
    [...config.endpoints.entries()].sort(byKey),
  ]);
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

// Code-unit order, not localeCompare: the order only has to be stable, and the first
// localeCompare loads ICU's collation data (+2.5 MB of the sidecar's RSS, docs/sidecar-memory.md).
function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
