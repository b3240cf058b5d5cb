// Finished spans → OTLP/HTTP JSON (`POST {collector}/v1/traces`), batched on a timer off the
// request path. Written here rather than taken from @opentelemetry/* because the sidecar only
// needs this one export path and must stay light (see docs/telemetry.md). A full queue drops new
// spans and counts them: the request path never waits on the collector.
import http from 'node:http';

export interface SpanAttributes {
  [key: string]: string | number | boolean | null;
}

export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  kind: 2 | 3;
  startUnixNano: bigint;
  endUnixNano: bigint;
  /** OTLP status code: 0 unset, 2 error. */
  error: boolean;
  attributes: SpanAttributes;
}

export interface OtlpExporterOptions {
  /** `http://host:port` (the path defaults to /v1/traces) or `host:port`. */
  collector: string;
  serviceName: string;
  serviceNamespace: string;
  maxQueue?: number;
  maxBatch?: number;
  flushIntervalMs?: number;
  timeoutMs?: number;
}

export interface ExporterStats {
  exported: number;
  dropped: number;
  failedBatches: number;
}

export function collectorUrl(collector: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(collector) ? collector : `http://${collector}`;
  const url = new URL(withScheme);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url;
}

export class OtlpSpanExporter {
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failedBatches: 0 };
  private queue: FinishedSpan[] = [];
  private readonly url: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private request: http.ClientRequest | null = null;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;

  constructor(private readonly opts: OtlpExporterOptions) {
    this.url = collectorUrl(opts.collector);
    this.maxQueue = opts.maxQueue ?? 4096;
    this.maxBatch = opts.maxBatch ?? 512;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
  }

  get collector(): string {
    return this.url.href;
  }

  export(span: FinishedSpan): void {
    if (this.queue.length >= this.maxQueue) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.timer === null) {
      this.timer = setTimeout(onFlushTimer, this.flushIntervalMs, this);
      // A pending batch must not keep the process alive on its own; close() flushes it.
      this.timer.unref();
    }
  }

  /** Sends everything queued (one request per batch, one request at a time). */
  async flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight !== null) await this.inFlight;
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.inFlight = this.send(batch);
      await this.inFlight;
      this.inFlight = null;
    }
  }

  /** Sends what is queued, waiting at most `graceMs` (a stopping sidecar must not hang on its collector). */
  async close(graceMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    })]);
    clearTimeout(timer);
    this.request?.destroy();
    this.agent.destroy();
  }

  private send(batch: FinishedSpan[]): Promise<void> {
    const body = JSON.stringify(otlpRequest(batch, this.opts.serviceName, this.opts.serviceNamespace));
    return new Promise((resolve) => {
      const req = http.request(this.url, {
        method: 'POST',
        agent: this.agent,
        timeout: this.opts.timeoutMs ?? 5000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== undefined && res.statusCode < 300) this.stats.exported += batch.length;
          else this.failed(batch.length);
          resolve();
        });
        res.on('error', () => {
          this.failed(batch.length);
          resolve();
        });
      });
      this.request = req;
      req.on('close', () => {
        if (this.request === req) this.request = null;
      });
      req.on('timeout', () => req.destroy(new Error('collector timeout')));
      req.on('error', () => {
        this.failed(batch.length);
        resolve();
      });
      req.end(body);
    });
  }

  private failed(spans: number): void {
    this.stats.failedBatches++;
    this.stats.dropped += spans;
  }
}

function onFlushTimer(e: OtlpSpanExporter): void {
  void e.flush();
}

function attributeValue(v: string | number | boolean): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

/** The OTLP/JSON ExportTraceServiceRequest for one batch (ids as hex, as OTLP/JSON requires). */
export function otlpRequest(spans: FinishedSpan[], serviceName: string, serviceNamespace: string): Record<string, unknown> {
  return {
    resourceSpans: [{
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: serviceName } },
          { key: 'service.namespace', value: { stringValue: serviceNamespace } },
          { key: 'telemetry.sdk.name', value: { stringValue: 'trellis-sidecar' } },
        ],
      },
      scopeSpans: [{
        scope: { name: 'trellis.proxy' },
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId === null ? {} : { parentSpanId: s.parentSpanId }),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: String(s.startUnixNano),
          endTimeUnixNano: String(s.endUnixNano),
          attributes: Object.entries(s.attributes)
            .filter((e): e is [string, string | number | boolean] => e[1] !== null)
            .map(([key, v]) => ({ key, value: attributeValue(v) })),
          status: s.error ? { code: 2 } : { code: 0 },
        })),
      }],
    }],
  };
}
