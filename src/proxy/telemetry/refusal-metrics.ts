// `trellis_refused_total{direction, reason}`: every request, response or connection the sidecar
// refused instead of proxying — malformed or smuggling framing, limits exceeded, slow or stalled
// peers, load shed. One family for every protocol (HTTP/1 and HTTP/2 each add their reasons), so
// one query shows what is being refused and why. `direction` is the listener's (inbound or
// outbound); `reason` is a short kebab-case word from a bounded set (docs/telemetry.md lists
// them), never text from the peer. Reasons about upstream responses start with `response-`.
import type { MetricRegistry } from './metric-registry.js';
import { CounterFamily, type CounterCell } from './metric-families.js';

export type RefusalDirection = 'inbound' | 'outbound';

export class RefusalMetrics {
  readonly refused = new CounterFamily(
    'trellis_refused_total',
    'Requests, responses and connections the sidecar refused (malformed, over a limit, too slow, or shed under overload), by listener direction and reason.',
    ['direction', 'reason'],
  );

  /** Routine, not refusals: kept apart so refusal rates stay a signal. */
  readonly idleClosed = new CounterFamily(
    'trellis_downstream_idle_timeouts_total',
    'Keep-alive client connections the sidecar closed after its idle timeout, by listener direction.',
    ['direction'],
  );

  /** The counter of one (direction, reason); keep it where the refusal is frequent. */
  cell(direction: RefusalDirection, reason: string): CounterCell {
    return this.refused.cell(direction, reason);
  }

  /** Counts one refusal (a map lookup: fine off the hot path, which refusals are). */
  count(direction: RefusalDirection, reason: string): void {
    this.refused.cell(direction, reason).value++;
  }
}

const byRegistry = new WeakMap<MetricRegistry, RefusalMetrics>();

/** One set per registry (one per proxy), registered on first use. */
export function refusalMetricsFor(registry: MetricRegistry): RefusalMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = new RefusalMetrics();
    registry.registerMetric(m.refused);
    registry.registerMetric(m.idleClosed);
    byRegistry.set(registry, m);
  }
  return m;
}
