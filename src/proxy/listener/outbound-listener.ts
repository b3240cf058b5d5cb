// Outbound: the app calls its sidecar with `Host: <service>`; the Host picks the virtual host.
import type { ListenerConfig } from '../config/proxy-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import { HttpListener, type HttpListenerOptions, type ListenerProtection } from './http-listener.js';

export function createOutboundListener(
  config: ListenerConfig, clusters: ClusterManager, metrics: ProxyMetrics, random?: () => number, protection: ListenerProtection & Pick<HttpListenerOptions, 'clock'> = {},
): HttpListener {
  return new HttpListener({ config, clusters, metrics, random, ...protection });
}
