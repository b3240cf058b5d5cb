// Counters of protocol detection (listener/protocol-detect.ts): what each sniffed connection
// turned out to be and why, so a port whose clients keep hitting the timeout (a
// server-speaks-first protocol on a port not marked opaque) shows up.
import type { MetricRegistry } from './metric-registry.js';
import { CounterFamily, type CounterCell } from './metric-families.js';
import type { DetectedProtocol, DetectionOutcome } from '../listener/protocol-detect.js';

export class DetectionMetrics {
  readonly detections = new CounterFamily('trellis_protocol_detections_total',
    'Connections whose protocol the sidecar sniffed (on Service ports that declare none), by the service and port they were for, what it found (tls, http1, http2, tcp; none when the client left first) and why (matched, unrecognized, timeout, closed).',
    ['direction', 'cluster', 'port', 'protocol', 'outcome']);

  /** The cell of one decision; the family caches it, so this is cheap once per connection. */
  cell(direction: string, cluster: string, port: string, protocol: DetectedProtocol | null, outcome: DetectionOutcome): CounterCell {
    return this.detections.cell(direction, cluster, port, protocol ?? 'none', outcome);
  }
}

const byRegistry = new WeakMap<MetricRegistry, DetectionMetrics>();

/** One set per registry (one per proxy), registered on first use. */
export function detectionMetricsFor(registry: MetricRegistry): DetectionMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = new DetectionMetrics();
    registry.registerMetric(m.detections);
    byRegistry.set(registry, m);
  }
  return m;
}
