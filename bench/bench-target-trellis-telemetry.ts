// `trellis-mesh-telemetry`: the mesh path of `trellis-mesh` with the issue's "telemetry fully
// on" (metrics, tracing sampled at 1 % with spans exported over OTLP/HTTP to a sink in this
// process, access logs off), and `trellis-mesh-telemetry-off`, its baseline: the same path with
// telemetry off (sidecars started with --no-request-metrics, no tracing, no access logs). Each in
// its own control plane, so their MeshConfigs and sidecars do not touch `trellis-mesh`.
import http from 'node:http';
import { benchAddresses } from './bench-addresses.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { configDump, startMeshVariant } from './bench-target-mesh-variant.js';

export const telemetrySamplingRate = 0.01;

/** Accepts OTLP/HTTP exports and counts the spans (the collector's side of the cost is not measured). */
export interface SpanSink {
  url: string;
  batches: number;
  close(): Promise<void>;
}

export async function startSpanSink(address: string): Promise<SpanSink> {
  const sink = { url: '', batches: 0, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      sink.batches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(4318, address, resolve));
  // It lives as long as the bench process; it must not keep that process alive once the report is out.
  server.unref();
  sink.url = `http://${address}:4318`;
  sink.close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return sink;
}

const meshConfig = (collector: string) => `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  tracing: { samplingRate: ${telemetrySamplingRate}, collector: "${collector}" }
  accessLog: { format: off }
`;

/** Every listener of the sidecar carries the tracing settings. */
async function tracingOn(address: string): Promise<string | null> {
  const dump = await configDump(address) as { listeners: Array<{ telemetry?: { tracing?: unknown } }> };
  return dump.listeners.length > 0 && dump.listeners.every((l) => l.telemetry?.tracing !== undefined) ? null : `tracing settings did not reach ${address}`;
}

/** The baseline must really run without request metrics: its config dump says so. */
async function requestMetricsOff(address: string): Promise<string | null> {
  const dump = await configDump(address) as { requestMetrics?: boolean };
  return dump.requestMetrics === false ? null : `sidecar at ${address} still records request metrics (config_dump requestMetrics ${String(dump.requestMetrics)})`;
}

export async function startTrellisTelemetryTarget(ctx: BenchContext, upstream: Upstream, telemetry: 'on' | 'off'): Promise<{ target: StartedTarget; sink: SpanSink | null }> {
  if (telemetry === 'off') {
    return {
      target: await startMeshVariant(ctx, upstream, {
        name: 'trellis-mesh-telemetry-off', addresses: benchAddresses.telemetryOff, meshConfig: null, sidecarFlags: ['--no-request-metrics'], settled: requestMetricsOff,
        note: 'telemetry off: sidecars with --no-request-metrics, no tracing, no access logs (connection counters stay)',
      }),
      sink: null,
    };
  }
  const name = 'trellis-mesh-telemetry';
  const sink = await startSpanSink(benchAddresses.telemetry.collector).catch(() => null);
  if (sink === null) return { target: { name, skipped: `span sink could not bind ${benchAddresses.telemetry.collector}:4318` }, sink };
  const target = await startMeshVariant(ctx, upstream, {
    name, addresses: benchAddresses.telemetry, meshConfig: meshConfig(sink.url), sidecarFlags: [], settled: tracingOn, baseline: 'trellis-mesh-telemetry-off',
    note: `metrics, tracing ${telemetrySamplingRate * 100}% sampled with OTLP/HTTP export, access logs off; compare with trellis-mesh-telemetry-off in the same run`,
  });
  return { target, sink };
}
