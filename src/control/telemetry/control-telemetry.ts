// The control plane's telemetry: the stats collector behind `trellis stat` and the targets file
// behind `trellis prometheus-config`, started and stopped together.
import type { Logger } from '../../common/log.js';
import type { Registry } from '../registry.js';
import { PrometheusTargets } from './prometheus-targets.js';
import { StatsCollector } from './stats-collector.js';

export interface ControlTelemetryOptions {
  registry: Registry;
  logger: Logger;
  dataDir: string;
  /** Scrape interval of the stats collector (default 5 s). */
  scrapeIntervalMs?: number;
}

export class ControlTelemetry {
  readonly collector: StatsCollector;
  readonly targets: PrometheusTargets;

  constructor(opts: ControlTelemetryOptions) {
    const envInterval = Number(process.env.TRELLIS_STATS_INTERVAL_MS);
    this.collector = new StatsCollector({
      registry: opts.registry,
      logger: opts.logger,
      intervalMs: opts.scrapeIntervalMs ?? (envInterval > 0 ? envInterval : 5000),
    });
    this.targets = new PrometheusTargets({ registry: opts.registry, dataDir: opts.dataDir, logger: opts.logger });
  }

  async start(): Promise<void> {
    await this.targets.start();
    this.collector.start();
  }

  async close(): Promise<void> {
    await this.collector.close();
    await this.targets.close();
  }
}
