// Priority (locality) failover, Envoy's rule: the control plane gives each endpoint the priority
// of its locality as seen from this sidecar (own zone 0, own region 1, elsewhere 2; docs/xds.md
// "Endpoints"), and the sidecar splits traffic between priorities by their health. A priority
// whose hosts are h % healthy can take min(100, h × 1.4) % of the traffic (the overprovisioning
// factor: a zone that lost a few instances keeps all of its traffic); what it cannot take spills
// to the next priority, and so on. When the priorities' capacities add up to less than 100 %,
// the loads are scaled up in proportion, so the healthy hosts carry all the traffic.
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/priority

/** Envoy's default overprovisioning factor (140 %). */
export const overprovisioningFactor = 1.4;

/**
 * The share of traffic (fractions that sum to 1) of each priority level, from its healthy and
 * total host counts; all zeros when no level has a healthy host.
 */
export function priorityLoads(healthy: readonly number[], total: readonly number[], factor = overprovisioningFactor): number[] {
  const health = healthy.map((h, i) => (total[i] > 0 ? Math.min(1, (factor * h) / total[i]) : 0));
  const normalizedTotal = Math.min(1, health.reduce((a, b) => a + b, 0));
  const loads = new Array<number>(health.length).fill(0);
  if (normalizedTotal === 0) return loads;
  let remaining = 1;
  for (let i = 0; i < health.length && remaining > 0; i++) {
    loads[i] = Math.min(remaining, health[i] / normalizedTotal);
    remaining -= loads[i];
  }
  // rounding must not leave traffic nowhere: the last loaded level takes the crumbs
  if (remaining > 0) {
    for (let i = loads.length - 1; i >= 0; i--) {
      if (loads[i] > 0) {
        loads[i] += remaining;
        break;
      }
    }
  }
  return loads;
}

/** Upper bounds of the cumulative loads, for a pick by one uniform draw; the last is exactly 1. */
export function cumulativeLoads(loads: readonly number[]): number[] {
  const out: number[] = [];
  let sum = 0;
  let last = -1;
  for (let i = 0; i < loads.length; i++) {
    sum += loads[i];
    out.push(sum);
    if (loads[i] > 0) last = i;
  }
  if (last >= 0) for (let i = last; i < out.length; i++) out[i] = 1;
  return out;
}
