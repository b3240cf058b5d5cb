// Per-request telemetry beyond metrics: tap events, access logs and trace spans. The data path
// checks one boolean (`DirectionTelemetry.on`) per request; only when something is on does it
// allocate a RequestRecord at the start and hand it back at the end.
import type { IncomingMessage } from 'node:http';
import type { ProxyError } from '../errors.js';
import type { ListenerConfig } from '../config/proxy-config.js';
import type { EndpointConfig } from '../config/proxy-config.js';
import type { Direction, RouteStats } from './metrics.js';
import { TapHub, type TapEvent } from './tap-hub.js';
import { accessLogJson, accessLogText, openAccessLog, type AccessLogEntry, type AccessLogSink } from './access-log.js';
import type { AccessLogSettings, ListenerTelemetryConfig, TracingSettings } from './telemetry-settings.js';
import { readIncomingTrace, withTraceHeaders } from './trace-context.js';
import { newSpanId, newTraceId } from './trace-ids.js';
import { OtlpSpanExporter, type FinishedSpan } from './otlp-span-exporter.js';

/** What one request carries from its start to its end while telemetry is on. */
export class RequestRecord {
  traceId: string | null = null;
  spanId: string | null = null;
  parentId: string | null = null;
  sampled = false;
  /** Request body bytes received (counted by the exchange as they pass). */
  bytesIn = 0;
  constructor(
    readonly req: IncomingMessage,
    readonly startMs: number,
    /** Unix time in ns, for spans. */
    readonly startUnixNano: bigint,
    readonly bytesWrittenAtStart: number,
    /** The upstream head, with this hop's trace context when tracing is on. */
    readonly head: string,
  ) {}
}

export interface LocalWorkload {
  service: string;
  namespace: string;
  /** The sidecar's proxy id, shown in tap events. */
  proxy: string;
}

function nowUnixNano(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

function headerOf(raw: string[], lower: string): string {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === lower.length && raw[i].toLowerCase() === lower) return raw[i + 1];
  return '';
}

function clusterService(cluster: string): string | null {
  // `<service>.<namespace>`; `inbound|local` is the app itself.
  return cluster === '' || cluster.includes('|') ? null : cluster;
}

export class DirectionTelemetry {
  /** tap active, or an access log, or tracing: the one check per request. */
  on = false;
  tracing: TracingSettings | null = null;
  accessLog: AccessLogSettings | null = null;

  constructor(readonly direction: Direction, private readonly owner: ProxyTelemetry) {}

  configure(cfg: ListenerTelemetryConfig | undefined): void {
    this.tracing = cfg?.tracing ?? null;
    this.accessLog = cfg?.accessLog ?? null;
    this.refresh();
  }

  refresh(): void {
    this.on = this.owner.tap.active || this.tracing !== null || this.accessLog !== null;
  }

  begin(req: IncomingMessage, head: string): RequestRecord {
    const sock = req.socket;
    const startMs = Date.now();
    const tracing = this.tracing;
    let rec: RequestRecord;
    if (tracing === null) {
      rec = new RequestRecord(req, startMs, 0n, sock.bytesWritten, head);
      const incoming = this.owner.tap.active || this.accessLog !== null ? readIncomingTrace(req.rawHeaders) : null;
      if (incoming !== null) rec.traceId = incoming.traceId;
      return rec;
    }
    const incoming = readIncomingTrace(req.rawHeaders);
    const spanId = newSpanId();
    let traceId: string;
    let parentId: string | null = null;
    let sampled: boolean;
    if (incoming !== null) {
      traceId = incoming.traceId;
      parentId = incoming.spanId;
      // The caller's decision stands either way, so a trace is never cut in the middle.
      sampled = incoming.sampled ?? this.owner.random() < tracing.samplingRate;
    } else {
      traceId = newTraceId();
      sampled = this.owner.random() < tracing.samplingRate;
    }
    const newHead = withTraceHeaders(head, incoming !== null, traceId, spanId, parentId, sampled, incoming?.tracestate ?? null, incoming?.b3Single ?? false);
    rec = new RequestRecord(req, startMs, sampled ? nowUnixNano() : 0n, sock.bytesWritten, newHead);
    rec.traceId = traceId;
    rec.spanId = spanId;
    rec.parentId = parentId;
    rec.sampled = sampled;
    return rec;
  }

  end(rec: RequestRecord, stats: RouteStats, status: number, error: ProxyError | null, seconds: number, upstream: EndpointConfig | null, retries: number): void {
    const tapping = this.owner.tap.active;
    const log = this.accessLog;
    // With tracing on, most requests are propagated but not sampled: nothing to record for them.
    if (!tapping && log === null && !rec.sampled) return;
    const req = rec.req;
    const inbound = this.direction === 'inbound';
    const local = this.owner.local;
    const localService = local === null ? null : `${local.service}.${local.namespace}`;
    const remote = req.socket.remoteAddress ?? null;
    const peerService = inbound ? null : clusterService(stats.cluster);
    const upstreamAddr = upstream === null ? null : `${upstream.address}:${upstream.port}`;
    const durationMs = Math.round(seconds * 1e6) / 1e3;
    const path = req.url ?? '/';
    const authority = headerOf(req.rawHeaders, 'host');
    const errorCode = error === null ? null : error.name;
    if (tapping) {
      const ev: TapEvent = {
        type: 'request',
        time: new Date(rec.startMs).toISOString(),
        direction: this.direction,
        proxy: local?.proxy ?? '',
        source: inbound ? { service: null, identity: null, address: remote } : { service: localService, identity: null, address: remote },
        destination: inbound ? { service: localService, identity: null, address: upstreamAddr } : { service: peerService, identity: null, address: upstreamAddr },
        method: req.method ?? '',
        authority,
        path,
        route: stats.route,
        status,
        latencyMs: durationMs,
        upstream: upstreamAddr,
        error: errorCode,
        retries,
        traceId: rec.traceId,
      };
      this.owner.tap.publish(ev);
    }
    if (log !== null && (log.filter === 'all' || status >= 500 || error !== null)) {
      const sock = req.socket;
      const entry: AccessLogEntry = {
        time: new Date(rec.startMs).toISOString(),
        traceId: rec.traceId,
        direction: this.direction,
        source: inbound ? remote : localService,
        destination: inbound ? localService : peerService,
        method: req.method ?? '',
        authority,
        path,
        route: stats.route,
        status,
        bytesIn: rec.bytesIn,
        bytesOut: Math.max(0, sock.bytesWritten - rec.bytesWrittenAtStart),
        durationMs,
        upstream: upstreamAddr,
        errorCode,
        retries,
      };
      this.owner.writeAccessLog(log.format === 'json' ? accessLogJson(entry) : accessLogText(entry));
    }
    if (rec.sampled && this.tracing !== null) {
      const exporter = this.owner.exporterFor(this.tracing);
      if (exporter === null) return;
      const span: FinishedSpan = {
        traceId: rec.traceId!,
        spanId: rec.spanId!,
        parentSpanId: rec.parentId,
        name: `${inbound ? 'inbound' : 'outbound'} ${stats.route || '(no route)'}`,
        kind: inbound ? 2 : 3,
        startUnixNano: rec.startUnixNano,
        endUnixNano: rec.startUnixNano + BigInt(Math.round(seconds * 1e9)),
        error: status >= 500 || error !== null,
        attributes: {
          'trellis.direction': this.direction,
          'trellis.service': localService,
          'trellis.route': stats.route,
          'trellis.cluster': stats.cluster,
          'trellis.peer.service': inbound ? null : peerService,
          'trellis.retries': retries,
          'trellis.error': errorCode,
          'http.request.method': req.method ?? '',
          'url.path': path,
          'server.address': authority,
          'http.response.status_code': status,
          'network.peer.address': inbound ? remote : upstream?.address ?? null,
          'network.peer.port': inbound ? null : upstream?.port ?? null,
        },
      };
      exporter.export(span);
    }
  }
}

export interface ProxyTelemetryOptions {
  /** Access-log file; absent = stdout (the sidecar's own logs go to stderr). */
  accessLogPath?: string;
  random?: () => number;
}

/** The sidecar's tap hub, access log and span exporter, shared by both directions. */
export class ProxyTelemetry {
  readonly tap = new TapHub();
  readonly inbound: DirectionTelemetry;
  readonly outbound: DirectionTelemetry;
  local: LocalWorkload | null = null;
  readonly random: () => number;
  private accessLogSink: AccessLogSink | null = null;
  private exporter: OtlpSpanExporter | null = null;
  private exporterCollector: string | null = null;
  private readonly retired = new Set<Promise<void>>();

  constructor(private readonly opts: ProxyTelemetryOptions = {}) {
    this.inbound = new DirectionTelemetry('inbound', this);
    this.outbound = new DirectionTelemetry('outbound', this);
    this.random = opts.random ?? Math.random;
    this.tap.onActiveChange(() => {
      this.inbound.refresh();
      this.outbound.refresh();
    });
  }

  of(direction: Direction): DirectionTelemetry {
    return direction === 'inbound' ? this.inbound : this.outbound;
  }

  setLocal(local: LocalWorkload): void {
    this.local = local;
  }

  /** Applies the telemetry settings of a new config's listeners (one per direction). */
  configure(listeners: readonly ListenerConfig[]): void {
    let inbound: ListenerTelemetryConfig | undefined;
    let outbound: ListenerTelemetryConfig | undefined;
    for (const l of listeners) {
      if (l.direction === 'inbound') inbound = l.telemetry;
      else outbound = l.telemetry;
    }
    this.inbound.configure(inbound);
    this.outbound.configure(outbound);
    const collector = inbound?.tracing?.collector ?? outbound?.tracing?.collector ?? null;
    if (collector !== this.exporterCollector) this.retireExporter();
  }

  writeAccessLog(line: string): void {
    (this.accessLogSink ??= openAccessLog(this.opts.accessLogPath)).write(line);
  }

  /** The exporter for a collector, made on first use (so a sidecar without tracing pays nothing). */
  exporterFor(t: TracingSettings): OtlpSpanExporter | null {
    if (t.collector === null) return null;
    if (this.exporter === null || this.exporterCollector !== t.collector) {
      this.retireExporter();
      this.exporter = new OtlpSpanExporter({ collector: t.collector, serviceName: this.local?.service ?? 'unknown', serviceNamespace: this.local?.namespace ?? 'default' });
      this.exporterCollector = t.collector;
    }
    return this.exporter;
  }

  get exporterStats(): { collector: string; exported: number; dropped: number; failedBatches: number } | null {
    return this.exporter === null ? null : { collector: this.exporter.collector, ...this.exporter.stats };
  }

  /** Sends queued spans and writes buffered log lines now (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.exporter?.flush(), this.accessLogSink?.flush(), ...this.retired]);
  }

  async close(): Promise<void> {
    this.tap.closeAll();
    const e = this.exporter;
    this.exporter = null;
    const log = this.accessLogSink;
    this.accessLogSink = null;
    await Promise.all([e?.close(), log?.close(), ...this.retired]);
  }

  private retireExporter(): void {
    const e = this.exporter;
    if (e === null) return;
    this.exporter = null;
    this.exporterCollector = null;
    const p = e.close().catch(() => undefined);
    this.retired.add(p);
    void p.then(() => this.retired.delete(p));
  }
}
