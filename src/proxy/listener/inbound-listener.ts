// Inbound: peers reach this pod's sidecar, which hands every request to the local app. The
// control plane sends an inline table to `inbound|local`; the same table stands in when the
// config carries none, so the app stays reachable whatever the route config says.
import type { ListenerConfig, RouteTable } from '../config/proxy-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import type { MeshTls } from '../tls/mesh-tls.js';
import { HttpListener, type HttpListenerOptions, type ListenerProtection } from './http-listener.js';

export const localClusterName = 'inbound|local';

export const defaultInboundRoutes: RouteTable = {
  name: 'inbound',
  virtualHosts: [
    {
      name: 'inbound',
      domains: ['*'],
      routes: [{ name: 'inbound', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: localClusterName, weight: 1 }], timeoutMs: 0 }],
    },
  ],
};

export function createInboundListener(
  config: ListenerConfig, clusters: ClusterManager, metrics: ProxyMetrics, meshTls: MeshTls | null = null, protection: ListenerProtection & Pick<HttpListenerOptions, 'clock'> = {},
): HttpListener {
  return new HttpListener({ config, clusters, metrics, defaultRoutes: defaultInboundRoutes, meshTls, ...protection });
}
