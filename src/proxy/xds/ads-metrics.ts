import { ScrapeFamily } from '../telemetry/metric-families.js';
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import type { AdsClient } from './ads-client.js';

/**
 * The xDS client's metrics, read from its counters at scrape time: which control-plane replica it
 * is connected to, how often its stream was re-established (and how often on another replica), and
 * what each type's responses carried, so a failover that re-downloads more than changed shows.
 */
export function registerAdsMetrics(registry: MetricRegistry, client: AdsClient): void {
  registry.registerMetric(new ScrapeFamily('trellis_xds_connected',
    'Whether the ADS stream to the control-plane replica named by `server` is up (1) or not (0)', 'gauge', ['server'], (emit) => {
      const st = client.stats();
      emit(st.connected ? 1 : 0, st.server);
    }));
  registry.registerMetric(new ScrapeFamily('trellis_xds_reconnects_total',
    'ADS streams established after the first one (to any control-plane replica)', 'counter', [], (emit) => emit(client.stats().reconnects)));
  registry.registerMetric(new ScrapeFamily('trellis_xds_failovers_total',
    'ADS streams established on another control-plane replica than the previous stream', 'counter', [], (emit) => emit(client.stats().failovers)));
  const perType = (name: string, help: string, pick: (s: { responses: number; resources: number; bytes: number }) => number) =>
    registry.registerMetric(new ScrapeFamily(name, help, 'counter', ['type'], (emit) => {
      for (const [typeUrl, st] of client.stats().byType) emit(pick(st), shortTypeName(typeUrl));
    }));
  perType('trellis_xds_responses_total', 'DiscoveryResponses received, by resource type', (s) => s.responses);
  perType('trellis_xds_resources_received_total', 'Resources received in DiscoveryResponses, by resource type', (s) => s.resources);
  perType('trellis_xds_received_bytes_total', 'Bytes of DiscoveryResponses received, by resource type', (s) => s.bytes);
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`. */
function shortTypeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
