import { ScrapeFamily } from '../telemetry/metric-families.js';
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import type { WorkloadIdentity } from './workload-identity.js';

/** `trellis_certificate_expiry_timestamp_seconds`: when the held certificate expires (absent without one). */
export function registerIdentityMetrics(registry: MetricRegistry, identity: WorkloadIdentity): void {
  registry.registerMetric(new ScrapeFamily('trellis_certificate_expiry_timestamp_seconds',
    'Expiry (unix seconds) of the workload certificate this sidecar holds', 'gauge', ['spiffe_id'], (emit) => {
      const m = identity.current();
      if (m) emit(m.notAfter.getTime() / 1000, m.spiffeId);
    }));
}
