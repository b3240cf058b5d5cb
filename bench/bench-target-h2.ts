// HTTP/2 and gRPC, direct and through the mesh, each loaded by h2load (h2c, prior knowledge):
// - `h2-direct`: h2load → nginx `return 200` on an h2c listener (its own, beside the HTTP/1 one);
// - `grpc-direct`: unary calls (one pre-framed message POSTed per request) → a @grpc/grpc-js server;
// - `h2-mesh` / `grpc-mesh`: h2load → sidecar `bench-h2-client` outbound (`:authority` the
//   Service) ⇒ h2 over mTLS (ALPN h2, workload certificates from the control plane's CA) ⇒ the
//   Service's sidecar → h2c to its app, as the Service's `http2` / `grpc` port says.
// The mesh has its own control plane (MeshConfig mtls strict), so the HTTP/1 targets are untouched.
// Before anything is measured each path must answer right: 200 with the body for HTTP/2, a real
// grpc-js call with grpc-status 0 and the expected answer for gRPC, and the mesh must prove mTLS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  benchAddresses, benchPort, grpcPort, grpcServiceName, h2ClientServiceName, h2ServiceName, upstreamBodyBytes,
} from './bench-addresses.js';
import type { BenchChild } from './bench-children.js';
import { ControlApi } from './bench-control-api.js';
import { benchGrpcService, checkGrpcCall, grpcCallHeaders, grpcFrame, benchGrpcRequest } from './bench-grpc-message.js';
import { expectH2Body, pollH2, type H2ProbeRequest } from './bench-h2-probe.js';
import type { H2loadRequest } from './bench-h2load.js';
import { expectStatus, httpGet, pollHttp } from './bench-http-probe.js';
import { startNginx, nginxRunAsUser } from './bench-nginx.js';
import { nginxH2UpstreamConfig } from './bench-nginx-config.js';
import { counter, inboundHandshakes, metricsText, outboundHandshakes, sumSamples, waitIdentity } from './bench-sidecar-admin.js';
import type { BenchContext, BenchTarget, StartedTarget } from './bench-target.js';
import { exitedProblem, startSidecar, waitReady } from './bench-target-trellis.js';
import { ports } from '../src/common/ports.js';
import { meshAlpn } from '../src/proxy/tls/mesh-tls.js';

export interface H2Wanted {
  readonly h2Direct: boolean;
  readonly h2Mesh: boolean;
  readonly grpcDirect: boolean;
  readonly grpcMesh: boolean;
}

const startTimeoutMs = 20_000;
const grpcPath = benchGrpcService.unary.path;
/** Body bytes of every gRPC answer: the message in its 5-byte frame. */
const grpcAnswerBytes = 5 + upstreamBodyBytes;

const resources = `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: strict }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${h2ServiceName} }
spec: { ports: [{ name: h2, port: ${benchPort}, protocol: http2 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${grpcServiceName} }
spec: { ports: [{ name: grpc, port: ${grpcPort}, protocol: grpc }] }
`;

/** An upstream that started, or why it did not. */
type Started = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export async function startH2Targets(ctx: BenchContext, wanted: H2Wanted): Promise<StartedTarget[]> {
  const dir = join(ctx.tmpDir, 'h2');
  mkdirSync(dir, { recursive: true });
  const h2Up: Started = wanted.h2Direct || wanted.h2Mesh ? await startH2Upstream(ctx, dir) : { ok: false, reason: 'not wanted' };
  const grpcUp: Started = wanted.grpcDirect || wanted.grpcMesh ? await startGrpcServer(ctx) : { ok: false, reason: 'not wanted' };
  const dataFile = join(dir, 'grpc-request.bin');
  writeFileSync(dataFile, grpcFrame(benchGrpcRequest));
  const h2Request = (url: string, authority: string | null): H2loadRequest => ({ url, authority, headers: [], dataFile: null, expectBodyBytes: upstreamBodyBytes });
  const grpcRequest = (url: string, authority: string | null): H2loadRequest => ({ url, authority, headers: grpcCallHeaders, dataFile, expectBodyBytes: grpcAnswerBytes });

  const targets: StartedTarget[] = [];
  const a = benchAddresses;
  if (wanted.h2Direct) {
    const url = `http://${a.h2.upstream}:${benchPort}/`;
    targets.push(!h2Up.ok ? { name: 'h2-direct', skipped: h2Up.reason } : {
      name: 'h2-direct', url, hostHeader: null, hops: 0, proxyPids: [], h2load: h2Request(url, null),
      note: 'nginx `return 200` on an h2c (prior knowledge) listener',
    });
  }
  if (wanted.grpcDirect) {
    const url = `http://${a.grpc.upstream}:${grpcPort}${grpcPath}`;
    targets.push(!grpcUp.ok ? { name: 'grpc-direct', skipped: grpcUp.reason } : {
      name: 'grpc-direct', url, hostHeader: null, hops: 0, proxyPids: [], h2load: grpcRequest(url, null),
      note: `@grpc/grpc-js server, unary ${grpcPath}, ${benchGrpcRequest.length}-byte request, ${upstreamBodyBytes}-byte answer`,
    });
  }
  if (!wanted.h2Mesh && !wanted.grpcMesh) return targets;

  const mesh = await startMesh(ctx, dir, { h2: wanted.h2Mesh ? h2Up : null, grpc: wanted.grpcMesh ? grpcUp : null });
  const outboundUrl = `http://${a.h2.clientPod}:${ports.proxyOutbound}`;
  if (wanted.h2Mesh) {
    const problem = mesh.problem ?? (h2Up.ok ? mesh.h2Problem : h2Up.reason);
    targets.push(problem !== null || mesh.h2App === null ? { name: 'h2-mesh', skipped: problem ?? 'no app sidecar' } : meshTarget(
      'h2-mesh', 'h2-direct', h2Request(`${outboundUrl}/`, h2ServiceName), [mesh.client!, mesh.h2App], mesh.ids,
      `${h2ServiceName}'s sidecar speaks h2c to nginx (Service port protocol http2)`, h2ServiceName,
    ));
  }
  if (wanted.grpcMesh) {
    const problem = mesh.problem ?? (grpcUp.ok ? mesh.grpcProblem : grpcUp.reason);
    targets.push(problem !== null || mesh.grpcApp === null ? { name: 'grpc-mesh', skipped: problem ?? 'no app sidecar' } : meshTarget(
      'grpc-mesh', 'grpc-direct', grpcRequest(`${outboundUrl}${grpcPath}`, grpcServiceName), [mesh.client!, mesh.grpcApp], mesh.ids,
      `${grpcServiceName}'s sidecar speaks h2c to the grpc-js server (Service port protocol grpc)`, grpcServiceName,
    ));
  }
  return targets;
}

function meshTarget(
  name: 'h2-mesh' | 'grpc-mesh', direct: 'h2-direct' | 'grpc-direct', request: H2loadRequest, sidecars: [BenchChild, BenchChild],
  ids: ReadonlyMap<string, string>, how: string, service: string,
): BenchTarget {
  return {
    name, url: request.url, hostHeader: null, hops: 2, proxyPids: sidecars.map((s) => s.pid), h2load: request, baseline: direct, direct,
    note: `h2c to ${h2ClientServiceName}'s outbound with :authority ${service}, h2 over mTLS between the sidecars ` +
      `(${ids.get(h2ClientServiceName)} → ${ids.get(service)}, TLS 1.3, ALPN ${meshAlpn.join(',')}), ${how}; CPU and RSS are the sum of both sidecars`,
    afterRuns: () => meshCounts(name === 'grpc-mesh', service),
  };
}

/** What the client sidecar counted over the whole bench: its connections to the peer, and the gRPC statuses. */
async function meshCounts(grpc: boolean, service: string): Promise<string> {
  const text = await metricsText(benchAddresses.h2.clientPod);
  const opened = sumSamples(text, (l) => l.startsWith('trellis_upstream_connections_total{') && l.includes(`cluster="${service}.default"`));
  const said = `the client sidecar opened ${opened} connection(s) to ${service}'s sidecar over the whole bench`;
  if (!grpc) return said;
  const calls = (l: string): boolean => l.startsWith('trellis_grpc_requests_total{') && l.includes('direction="outbound"');
  const ok = sumSamples(text, (l) => calls(l) && l.includes('grpc_status="0"'));
  const other = sumSamples(text, (l) => calls(l) && !l.includes('grpc_status="0"'));
  return `${said}, and counted ${ok} gRPC calls with grpc-status 0 and ${other} with another status or none`;
}

async function startH2Upstream(ctx: BenchContext, dir: string): Promise<Started> {
  const tool = ctx.tools.get('nginx');
  if (tool === undefined || !('path' in tool)) return { ok: false, reason: `no h2c upstream: ${tool !== undefined && 'missing' in tool ? tool.missing : 'nginx not looked up'}` };
  const listen = `${benchAddresses.h2.upstream}:${benchPort}`;
  const prefix = join(dir, 'upstream-nginx-h2');
  const config = nginxH2UpstreamConfig({ prefix, runAsUser: nginxRunAsUser() }, listen, upstreamBodyBytes);
  const probe: H2ProbeRequest = { url: `http://${listen}/`, authority: null, method: 'GET' };
  const child = await startNginx(ctx.children, tool.path, 'upstream-nginx-h2', prefix, config, ctx.loadCpus,
    (abort) => pollH2(probe, startTimeoutMs, expectH2Body(upstreamBodyBytes), abort));
  return child instanceof Error ? { ok: false, reason: `h2c nginx upstream did not start: ${child.message}` } : { ok: true };
}

async function startGrpcServer(ctx: BenchContext): Promise<Started> {
  const script = join(ctx.repoRoot, 'dist', 'bench', 'bench-grpc-server.js');
  const host = benchAddresses.grpc.upstream;
  const child = ctx.children.spawn('upstream-grpc', process.execPath, [script, host, String(grpcPort), String(upstreamBodyBytes)], { cpus: ctx.loadCpus, output: 'log' });
  const problem = await pollGrpc(`${host}:${grpcPort}`, null, () => (child.isRunning() ? null : `gRPC server exited: ${child.logTail(5)}`));
  return problem === null ? { ok: true } : { ok: false, reason: `gRPC server did not answer: ${problem}` };
}

/** Calls until one returns grpc-status 0 with the expected answer; null, or the last problem. */
async function pollGrpc(target: string, authority: string | null, abort: () => string | null): Promise<string | null> {
  const deadline = Date.now() + startTimeoutMs;
  let last = 'not tried';
  while (Date.now() < deadline) {
    const aborted = abort();
    if (aborted !== null) return aborted;
    const problem = await checkGrpcCall(target, authority, upstreamBodyBytes, 2000);
    if (problem === null) return null;
    last = problem;
    await new Promise((r) => setTimeout(r, 200));
  }
  return `${target}${authority === null ? '' : ` (:authority ${authority})`}: ${last} (gave up after ${startTimeoutMs / 1000}s)`;
}

interface Mesh {
  /** Why the mesh as a whole did not start (null: it did). */
  readonly problem: string | null;
  readonly h2Problem: string | null;
  readonly grpcProblem: string | null;
  readonly client: BenchChild | null;
  readonly h2App: BenchChild | null;
  readonly grpcApp: BenchChild | null;
  /** SPIFFE id by service. */
  readonly ids: ReadonlyMap<string, string>;
}

/**
 * The control plane, the client sidecar and a sidecar in front of each upstream that started
 * (null: not wanted), each with a workload certificate; then each path is checked end to end.
 */
async function startMesh(ctx: BenchContext, dir: string, apps: { h2: Started | null; grpc: Started | null }): Promise<Mesh> {
  const failed = (problem: string): Mesh => ({ problem, h2Problem: null, grpcProblem: null, client: null, h2App: null, grpcApp: null, ids: new Map() });
  const a = benchAddresses.h2;
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli', 'main.js');
  const control = ctx.children.spawn('trellis-control-h2', process.execPath,
    [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', a.control], { cpus: ctx.loadCpus, output: 'log' });
  const apiUrl = `http://${a.control}:${ports.controlApi}`;
  const up = await pollHttp(`${apiUrl}/api/v1/health`, null, 30_000, expectStatus(200), () => (control.isRunning() ? null : `control exited: ${control.logTail(5)}`));
  if (up !== null) return failed(`control plane did not start: ${up}`);
  const api = ControlApi.ofDataDir(apiUrl, join(dir, 'control'));
  const applied = await api.post('/api/v1/resources', resources, 'application/yaml');
  if (applied.status >= 300) return failed(`resources refused: ${applied.status} ${JSON.stringify(applied.body)}`);

  const xds = `${a.control}:${ports.controlXds}`;
  const h2App = `${a.upstream}:${benchPort}`;
  const wantedSidecars: [string, string, string][] = [[h2ClientServiceName, a.clientPod, h2App]];
  if (apps.h2?.ok === true) wantedSidecars.push([h2ServiceName, a.appPod, h2App]);
  if (apps.grpc?.ok === true) wantedSidecars.push([grpcServiceName, benchAddresses.grpc.appPod, `${benchAddresses.grpc.upstream}:${grpcPort}`]);
  const sidecars = new Map<string, [BenchChild, string]>();
  for (const [service, address, app] of wantedSidecars) {
    const token = await api.joinToken(service);
    if (token instanceof Error) return failed(token.message);
    sidecars.set(service, [startSidecar(ctx, cli, dir, service, address, app, xds, ['--token', token]), address]);
  }
  const ids = new Map<string, string>();
  for (const [service, [sc, address]] of sidecars) {
    const ready = await waitReady(ctx, sc, address, control);
    if (ready !== null) return failed(`sidecar ${sc.name} not ready: ${ready}`);
    const id = await waitIdentity(address);
    if (id instanceof Error) return failed(id.message);
    ids.set(service, id);
  }
  const client = sidecars.get(h2ClientServiceName)![0];
  const h2Sidecar = sidecars.get(h2ServiceName)?.[0] ?? null;
  const grpcSidecar = sidecars.get(grpcServiceName)?.[0] ?? null;
  const outbound = `${a.clientPod}:${ports.proxyOutbound}`;
  const h2Problem = h2Sidecar === null ? null : await pollH2({ url: `http://${outbound}/`, authority: h2ServiceName, method: 'GET' }, startTimeoutMs,
    expectH2Body(upstreamBodyBytes), () => exitedProblem(client, control) ?? exitedProblem(h2Sidecar, control))
    ?? await provesMtls(a.appPod);
  const grpcProblem = grpcSidecar === null ? null : await pollGrpc(outbound, grpcServiceName, () => exitedProblem(client, control) ?? exitedProblem(grpcSidecar, control))
    ?? await provesMtls(benchAddresses.grpc.appPod);
  return {
    problem: null,
    h2Problem: h2Problem === null ? null : `mesh path does not work: ${h2Problem}`,
    grpcProblem: grpcProblem === null ? null : `mesh path does not work: ${grpcProblem}`,
    client, h2App: h2Sidecar, grpcApp: grpcSidecar, ids,
  };
}

/** The path is mTLS: the app sidecar took inbound handshakes, the client made outbound ones, plaintext is refused. */
async function provesMtls(appPod: string): Promise<string | null> {
  const inbound = await counter(appPod, inboundHandshakes);
  const outbound = await counter(benchAddresses.h2.clientPod, outboundHandshakes);
  if (inbound < 1 || outbound < 1) return `the path answered but made no mTLS handshake (inbound ${inbound} at ${appPod}, outbound ${outbound})`;
  const plain = await httpGet(`http://${appPod}:${ports.proxyInbound}/`, null, 2000);
  if (!(plain instanceof Error)) return `${appPod}'s inbound listener answered plaintext with ${plain.status}: strict mode is not in force`;
  return null;
}
