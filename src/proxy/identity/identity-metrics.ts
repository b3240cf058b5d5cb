import { Gauge, type Registry } from 'prom-client';
import type { WorkloadIdentity } from './workload-identity.js';

/** `trellis_certificate_expiry_timestamp_seconds`: when the held certificate expires (absent without one). */
export function registerIdentityMetrics(registry: Registry, identity: WorkloadIdentity): void {
  new Gauge({
    name: 'trellis_certificate_expiry_timestamp_seconds',
    help: 'Expiry (unix seconds) of the workload certificate this sidecar holds',
    labelNames: ['spiffe_id'],
    registers: [registry],
    collect() {
      this.reset();
      const m = identity.current();
      if (m) this.set({ spiffe_id: m.spiffeId }, m.notAfter.getTime() / 1000);
    },
  });
}
