// Cluster (CDS) → ClusterConfig: EDS over ADS, or STATIC with inline endpoints; round robin only
// (docs/xds.md, "Clusters").
import { defaultCircuitBreakers, defaultIdleTimeoutMs, defaultRetryBudget } from '../config/cluster-defaults.js';
import type { ClusterConfig } from '../config/proxy-config.js';
import { decodeEndpoints } from './cluster-load-assignment-decoder.js';
import { durationMs, findUnknownTypedExtension } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

// Envoy's default when connect_timeout is absent.
const defaultConnectTimeoutMs = 5000;

export function decodeCluster(cluster: ProtoObject): DecodeResult<ClusterConfig> {
  const name = typeof cluster.name === 'string' ? cluster.name : '';
  if (!name) return refused('cluster: name is required');
  const r = decodeNamedCluster(name, cluster);
  return r.ok ? r : refused(`cluster "${name}": ${r.error}`);
}

function decodeNamedCluster(name: string, c: ProtoObject): DecodeResult<ClusterConfig> {
  if (c.cluster_type) return refused(`cluster_type ${c.cluster_type.name ?? ''} is not supported (only type EDS or STATIC)`);
  // proto3 leaves a zero enum off the wire: absent means STATIC and ROUND_ROBIN.
  const type = c.type ?? 'STATIC';
  if (type !== 'EDS' && type !== 'STATIC') return refused(`type ${type} is not supported (only EDS or STATIC)`);
  const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
  if (lbPolicy !== 'ROUND_ROBIN') return refused(`lb_policy ${lbPolicy} is not supported (only ROUND_ROBIN)`);
  if (c.load_balancing_policy) return refused('load_balancing_policy is not supported (only lb_policy ROUND_ROBIN)');
  const unknown = findUnknownTypedExtension(c);
  if (unknown) return refused(unknown);
  const connectTimeoutMs = durationMs(c.connect_timeout) ?? defaultConnectTimeoutMs;
  if (connectTimeoutMs <= 0) return refused('connect_timeout must be positive');
  const base: ClusterConfig = {
    name, connectTimeoutMs, idleTimeoutMs: defaultIdleTimeoutMs, lbPolicy: { kind: 'round-robin' },
    circuitBreakers: { ...defaultCircuitBreakers }, retryBudget: { ...defaultRetryBudget },
  };
  if (type === 'EDS') {
    const eds = (c.eds_cluster_config ?? {}) as ProtoObject;
    if (eds.eds_config && !eds.eds_config.ads) return refused('eds_cluster_config.eds_config must be ads');
    const serviceName = typeof eds.service_name === 'string' && eds.service_name !== '' ? eds.service_name : name;
    return decoded({ ...base, edsServiceName: serviceName });
  }
  if (!c.load_assignment) return refused('a STATIC cluster needs load_assignment');
  const endpoints = decodeEndpoints(c.load_assignment);
  if (!endpoints.ok) return refused(`load_assignment: ${endpoints.error}`);
  return decoded({ ...base, staticEndpoints: endpoints.value });
}
