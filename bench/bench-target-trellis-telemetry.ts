// `trellis-mesh-telemetry`: the mesh path of `trellis-mesh` with the issue's "telemetry fully
// on" (metrics, tracing sampled at 1 % with spans exported over OTLP/HTTP to a sink in this
// process, access logs off), and `trellis-mesh-telemetry-off`, its baseline: the same path with
// telemetry off (sidecars started with --no-request-metrics, no tracing, no access logs). Each in
// its own control plane, so their MeshConfigs and sidecars do not touch `trellis-mesh`.
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { benchAddresses, clientServiceName, meshServiceName, upstreamBodyBytes } from './bench-addresses.js';
import { expectStatus, expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { exitedProblem, startSidecar, waitReady } from './bench-target-trellis.js';
import { ports } from '../src/common/ports.js';

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

async function applyMeshConfig(apiUrl: string, token: string, collector: string): Promise<string | null> {
  const body = `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  tracing: { samplingRate: ${telemetrySamplingRate}, collector: "${collector}" }
  accessLog: { format: off }
`;
  const res = await fetch(`${apiUrl}/api/v1/resources`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' } });
  return res.ok ? null : `MeshConfig refused: ${res.status} ${await res.text()}`;
}

async function waitForTracing(address: string, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const dump = await (await fetch(`http://${address}:${ports.proxyAdmin}/config_dump`)).json() as { listeners: Array<{ telemetry?: { tracing?: unknown } }> };
      if (dump.listeners.length > 0 && dump.listeners.every((l) => l.telemetry?.tracing !== undefined)) return null;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return `tracing settings did not reach ${address} within ${timeoutMs} ms`;
}

export async function startTrellisTelemetryTarget(ctx: BenchContext, upstream: Upstream, telemetry: 'on' | 'off'): Promise<{ target: StartedTarget; sink: SpanSink | null }> {
  const on = telemetry === 'on';
  const name = on ? 'trellis-mesh-telemetry' as const : 'trellis-mesh-telemetry-off' as const;
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli', 'main.js');
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const a = on ? benchAddresses.telemetry : benchAddresses.telemetryOff;
  const sink = on ? await startSpanSink(benchAddresses.telemetry.collector).catch(() => null) : null;
  if (on && sink === null) return { target: { name, skipped: `span sink could not bind ${benchAddresses.telemetry.collector}:4318` }, sink };
  const control = ctx.children.spawn(`trellis-control-${name}`, process.execPath,
    [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', a.control], { cpus: ctx.loadCpus, output: 'log' });
  const apiUrl = `http://${a.control}:${ports.controlApi}`;
  const up = await pollHttp(`${apiUrl}/api/v1/health`, null, 30_000, expectStatus(200), () => (control.isRunning() ? null : `control exited: ${control.logTail(5)}`));
  if (up !== null) return { target: { name, skipped: `control plane did not start: ${up}` }, sink };
  const token = readFileSync(join(dir, 'control', 'admin-token'), 'utf8').trim().split('\n')[0];
  if (sink !== null) {
    const applied = await applyMeshConfig(apiUrl, token, sink.url);
    if (applied !== null) return { target: { name, skipped: applied }, sink };
  }
  const app = `${upstream.host}:${upstream.port}`;
  const flags = on ? [] : ['--no-request-metrics'];
  const appSidecar = startSidecar(ctx, cli, dir, meshServiceName, a.appPod, app, `${a.control}:${ports.controlXds}`, flags);
  const clientSidecar = startSidecar(ctx, cli, dir, clientServiceName, a.clientPod, app, `${a.control}:${ports.controlXds}`, flags);
  for (const [sc, addr] of [[appSidecar, a.appPod], [clientSidecar, a.clientPod]] as const) {
    const ready = await waitReady(ctx, sc, addr, control);
    if (ready !== null) return { target: { name, skipped: `sidecar ${sc.name} not ready: ${ready}` }, sink };
    const settled = on ? await waitForTracing(addr, 20_000) : await expectRequestMetricsOff(addr);
    if (settled !== null) return { target: { name, skipped: settled }, sink };
  }
  const url = `http://${a.clientPod}:${ports.proxyOutbound}/`;
  const problem = await pollHttp(url, meshServiceName, 20_000, expectUpstreamBody(upstreamBodyBytes),
    () => exitedProblem(clientSidecar, control) ?? exitedProblem(appSidecar, control));
  if (problem !== null) return { target: { name, skipped: `mesh path does not work: ${problem}` }, sink };
  return {
    target: on
      ? {
        name, url, hostHeader: meshServiceName, hops: 2, proxyPids: [clientSidecar.pid, appSidecar.pid], baseline: 'trellis-mesh-telemetry-off',
        note: `metrics, tracing ${telemetrySamplingRate * 100}% sampled with OTLP/HTTP export, access logs off; compare with trellis-mesh-telemetry-off in the same run`,
      }
      : {
        name, url, hostHeader: meshServiceName, hops: 2, proxyPids: [clientSidecar.pid, appSidecar.pid],
        note: 'telemetry off: sidecars with --no-request-metrics, no tracing, no access logs (connection counters stay)',
      },
    sink,
  };
}

/** The baseline must really run without request metrics: its config dump says so. */
async function expectRequestMetricsOff(address: string): Promise<string | null> {
  try {
    const dump = await (await fetch(`http://${address}:${ports.proxyAdmin}/config_dump`)).json() as { requestMetrics?: boolean };
    return dump.requestMetrics === false ? null : `sidecar at ${address} still records request metrics (config_dump requestMetrics ${String(dump.requestMetrics)})`;
  } catch (err) {
    return `config_dump of ${address}: ${(err as Error).message}`;
  }
}
