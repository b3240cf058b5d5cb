// Counters of mesh TLS: how many plaintext connections still reach the inbound listener (the
// figure that says when it is safe to go strict), failed handshakes, and handshakes by side and
// resumption (new-connection cost shows up here, not in request counters).
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import { CounterFamily, type CounterCell } from '../telemetry/metric-families.js';

export class TlsMetrics {
  readonly plaintext = new CounterFamily('trellis_inbound_plaintext_connections_total',
    'Plaintext connections that reached the inbound listener while mTLS is on (mode permissive: accepted; strict: refused).', ['mode']);
  readonly handshakeFailures = new CounterFamily('trellis_tls_handshake_failures_total',
    'TLS handshakes that failed (bad or foreign certificate, wrong peer identity, no certificate held).', ['direction']);
  readonly handshakes = new CounterFamily('trellis_tls_handshakes_total', 'Completed TLS handshakes between sidecars.', ['direction', 'resumed']);
  readonly plaintextPermissive: CounterCell = this.plaintext.cell('permissive');
  readonly plaintextStrict: CounterCell = this.plaintext.cell('strict');
  readonly inboundFailures: CounterCell = this.handshakeFailures.cell('inbound');
  readonly outboundFailures: CounterCell = this.handshakeFailures.cell('outbound');
  readonly inboundFull: CounterCell = this.handshakes.cell('inbound', 'false');
  readonly inboundResumed: CounterCell = this.handshakes.cell('inbound', 'true');
  readonly outboundFull: CounterCell = this.handshakes.cell('outbound', 'false');
  readonly outboundResumed: CounterCell = this.handshakes.cell('outbound', 'true');
}

const byRegistry = new WeakMap<MetricRegistry, TlsMetrics>();

/** One set per registry (one per proxy), registered on first use. */
export function tlsMetricsFor(registry: MetricRegistry): TlsMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = new TlsMetrics();
    for (const f of [m.plaintext, m.handshakeFailures, m.handshakes]) registry.registerMetric(f);
    byRegistry.set(registry, m);
  }
  return m;
}
