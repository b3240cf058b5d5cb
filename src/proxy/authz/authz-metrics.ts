// `trellis_authz_denied_total{source,reason}`: requests the inbound side refused. source is the
// caller's SPIFFE id ("plaintext" without one): bounded by the mesh's services, never by paths.
import type { Registry } from 'prom-client';
import { CounterFamily } from '../telemetry/metric-families.js';

const byRegistry = new WeakMap<Registry, CounterFamily>();

export function authzDeniedFor(registry: Registry): CounterFamily {
  let f = byRegistry.get(registry);
  if (!f) {
    f = new CounterFamily('trellis_authz_denied_total', 'Inbound requests refused by authorization (403 unauthorized), by caller identity and reason.', ['source', 'reason']);
    registry.registerMetric(f as any);
    byRegistry.set(registry, f);
  }
  return f;
}
