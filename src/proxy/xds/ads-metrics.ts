import { Counter, Gauge, type Registry } from 'prom-client';
import type { AdsClient } from './ads-client.js';

/**
 * The xDS client's metrics, read from its counters at scrape time: which control-plane replica it
 * is connected to, how often its stream was re-established (and how often on another replica), and
 * what each type's responses carried, so a failover that re-downloads more than changed shows.
 */
export function registerAdsMetrics(registry: Registry, client: AdsClient): void {
  new Gauge({
    name: 'trellis_xds_connected',
    help: 'Whether the ADS stream to the control-plane replica named by `server` is up (1) or not (0)',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      const st = client.stats();
      this.set({ server: st.server }, st.connected ? 1 : 0);
    },
  });
  new Counter({
    name: 'trellis_xds_reconnects_total',
    help: 'ADS streams established after the first one (to any control-plane replica)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(client.stats().reconnects);
    },
  });
  new Counter({
    name: 'trellis_xds_failovers_total',
    help: 'ADS streams established on another control-plane replica than the previous stream',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(client.stats().failovers);
    },
  });
  const perType = (name: string, help: string, pick: (s: { responses: number; resources: number; bytes: number }) => number) => new Counter({
    name,
    help,
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [typeUrl, st] of client.stats().byType) this.inc({ type: shortTypeName(typeUrl) }, pick(st));
    },
  });
  perType('trellis_xds_responses_total', 'DiscoveryResponses received, by resource type', (s) => s.responses);
  perType('trellis_xds_resources_received_total', 'Resources received in DiscoveryResponses, by resource type', (s) => s.resources);
  perType('trellis_xds_received_bytes_total', 'Bytes of DiscoveryResponses received, by resource type', (s) => s.bytes);
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`. */
function shortTypeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
