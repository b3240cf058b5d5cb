// `trellis_authz_denied_total{source,reason}`: requests the inbound side refused. source is the
// caller's SPIFFE id ("plaintext" without one): bounded by the mesh's services, never by paths.
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import { CounterFamily } from '../telemetry/metric-families.js';

const byRegistry = new WeakMap<MetricRegistry, CounterFamily>();

export function authzDeniedFor(registry: MetricRegistry): CounterFamily {
  let f = byRegistry.get(registry);
  if (!f) {
    f = new CounterFamily('trellis_authz_denied_total', 'Inbound requests refused by authorization (403 unauthorized), by caller identity and reason.', ['source', 'reason']);
    registry.registerMetric(f);
    byRegistry.set(registry, f);
  }
  return f;
}
