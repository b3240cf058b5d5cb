// Pull, not push: every few seconds the control plane scrapes the /metrics of each connected
// sidecar (the same endpoint a Prometheus server scrapes), so sidecars need no extra client, no
// extra connection and no buffering, and a slow control plane never slows the data path.
import http from 'node:http';
import type { Logger } from '../../common/log.js';
import { systemClock, type Clock } from '../clock.js';
import type { Instance, Registry } from '../registry.js';
import { parsePromText } from './prom-text-parser.js';
import { StatsHistory } from './stats-history.js';
import { snapshotDelta, snapshotFromSamples, type TrafficCounts, type TrafficSnapshot } from './traffic-snapshot.js';

export interface StatsCollectorOptions {
  registry: Registry;
  logger: Logger;
  history?: StatsHistory;
  intervalMs?: number;
  timeoutMs?: number;
  /** Scrapes in flight at once. */
  concurrency?: number;
  /** A larger /metrics body is refused (a runaway label set must not exhaust the control plane). */
  maxBytes?: number;
  clock?: Clock;
  /** How a scrape is made; tests replace it. Resolves to the body or an Error value. */
  fetchMetrics?: (inst: Instance, timeoutMs: number, maxBytes: number) => Promise<string | Error>;
}

export class StatsCollector {
  readonly history: StatsHistory;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly proxies = new Map<string, TrafficSnapshot>();
  private readonly startedAt: number;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private closed = false;
  /** Proxy id → the last scrape's error, for the API. */
  readonly lastErrors = new Map<string, string>();

  constructor(private readonly opts: StatsCollectorOptions) {
    this.history = opts.history ?? new StatsHistory();
    this.clock = opts.clock ?? systemClock;
    this.intervalMs = opts.intervalMs ?? 5000;
    this.startedAt = this.clock.now();
  }

  start(): void {
    if (this.closed || this.timer !== undefined) return;
    this.schedule(0);
  }

  /** One round: scrape every connected sidecar, record what changed since the previous round. */
  scrapeOnce(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.scrapeOnce().finally(() => {
        if (!this.closed) this.schedule(this.intervalMs);
      });
    }, ms);
  }

  private async round(): Promise<void> {
    const at = this.clock.now();
    const targets = this.opts.registry.list().filter((i) => i.connected && i.adminPort > 0);
    const deltas: { service: string; counts: TrafficCounts }[] = [];
    const fetchMetrics = this.opts.fetchMetrics ?? fetchMetricsHttp;
    const timeoutMs = this.opts.timeoutMs ?? Math.min(2000, this.intervalMs);
    const maxBytes = this.opts.maxBytes ?? 8 * 1024 * 1024;
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const inst = targets[next++];
        const body = await fetchMetrics(inst, timeoutMs, maxBytes);
        const parsed = body instanceof Error ? body : parsePromText(body);
        if (parsed instanceof Error || !parsed.ok) {
          const error = parsed instanceof Error ? parsed.message : parsed.error;
          if (this.lastErrors.get(inst.proxyId) !== error) this.opts.logger.warn({ proxy: inst.proxyId, error }, 'cannot scrape sidecar metrics');
          this.lastErrors.set(inst.proxyId, error);
          continue;
        }
        this.lastErrors.delete(inst.proxyId);
        const snapshot = snapshotFromSamples(parsed.samples);
        const prev = this.proxies.get(inst.proxyId);
        this.proxies.set(inst.proxyId, snapshot);
        // A sidecar never scraped before: if its process started within our history, everything it
        // counted is new; otherwise (e.g. the control plane restarted) its first scrape is a baseline.
        const started = parsed.samples.find((s) => s.name.endsWith('process_start_time_seconds'))?.value;
        const baseline = prev ?? (started !== undefined && started * 1000 >= this.startedAt ? undefined : snapshot);
        for (const counts of snapshotDelta(baseline, snapshot)) deltas.push({ service: inst.service, counts });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 16, targets.length) }, worker));
    const live = new Set(targets.map((t) => t.proxyId));
    for (const id of this.proxies.keys()) if (!live.has(id)) this.proxies.delete(id);
    for (const id of this.lastErrors.keys()) if (!live.has(id)) this.lastErrors.delete(id);
    this.history.record(at, deltas);
  }
}

function fetchMetricsHttp(inst: Instance, timeoutMs: number, maxBytes: number): Promise<string | Error> {
  return new Promise((resolve) => {
    const req = http.get({ host: inst.address, port: inst.adminPort, path: '/metrics', timeout: timeoutMs, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(new Error(`GET /metrics answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy();
          resolve(new Error(`/metrics is larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => resolve(err));
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err));
  });
}
