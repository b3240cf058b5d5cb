// Lookups of STRICT_DNS clusters' host names (strict-dns-resolver.ts), per cluster: how many, and
// how many failed (the cluster then kept its last good endpoints).
import type { MetricRegistry } from './metric-registry.js';
import { CounterFamily } from './metric-families.js';
import type { DnsCounters } from '../cluster/strict-dns-resolver.js';

export class DnsMetrics {
  readonly lookups = new CounterFamily('trellis_dns_lookups_total', 'Host-name lookups for STRICT_DNS clusters (external services named by DNS).', ['cluster']);
  readonly failures = new CounterFamily('trellis_dns_lookup_failures_total', 'Those that failed or found no address; the cluster kept its last good endpoints.', ['cluster']);

  constructor(registry: MetricRegistry) {
    registry.registerMetric(this.lookups);
    registry.registerMetric(this.failures);
  }

  countersFor(cluster: string): DnsCounters {
    return { lookups: this.lookups.cell(cluster), failures: this.failures.cell(cluster) };
  }
}

const byRegistry = new WeakMap<MetricRegistry, DnsMetrics>();

/** One DnsMetrics per registry, so several cluster managers may share a registry. */
export function dnsMetricsFor(registry: MetricRegistry): DnsMetrics {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = new DnsMetrics(registry);
    byRegistry.set(registry, m);
  }
  return m;
}
