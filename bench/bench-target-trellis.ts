import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchAddresses, clientServiceName, meshServiceName, upstreamBodyBytes } from './bench-addresses.js';
import type { BenchChild } from './bench-children.js';
import { expectStatus, expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { ports as wellKnown } from '../src/common/ports.js';

const ports = { admin: wellKnown.proxyAdmin, outbound: wellKnown.proxyOutbound, inbound: wellKnown.proxyInbound, xds: wellKnown.controlXds } as const;
const readyTimeoutMs = 30_000;
/** EDS for the mesh service may arrive a little after /ready. */
const routeTimeoutMs = 20_000;

export interface TrellisWanted {
  readonly oneHop: boolean;
  readonly mesh: boolean;
}

/**
 * Starts a control plane and the sidecars with the CLI (shared/DESIGN.md §4): one sidecar in
 * front of the upstream (`bench-app`, the 1-hop target through its inbound listener, and the
 * mesh's inbound side), and for the mesh one more (`bench-client`) whose outbound listener
 * takes wrk's requests with `Host: bench-app`.
 */
export async function startTrellisTargets(ctx: BenchContext, upstream: Upstream, wanted: TrellisWanted): Promise<StartedTarget[]> {
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli', 'main.js');
  const skipAll = (reason: string): StartedTarget[] => [
    ...(wanted.oneHop ? [{ name: 'trellis-1-hop' as const, skipped: reason }] : []),
    ...(wanted.mesh ? [{ name: 'trellis-mesh' as const, skipped: reason }] : []),
  ];
  if (!existsSync(cli)) return skipAll(`Trellis CLI not built (${cli} missing)`);

  const dir = join(ctx.tmpDir, 'trellis');
  mkdirSync(dir, { recursive: true });
  const controlAddr = benchAddresses.control;
  const control = ctx.children.spawn('trellis-control', process.execPath,
    [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', controlAddr], { cpus: ctx.loadCpus, output: 'log' });
  const app = `${upstream.host}:${upstream.port}`;
  const appSidecar = startSidecar(ctx, cli, dir, meshServiceName, benchAddresses.appPod, app, `${controlAddr}:${ports.xds}`);
  const appReady = await waitReady(ctx, appSidecar, benchAddresses.appPod, control);
  if (appReady !== null) return skipAll(`sidecar ${meshServiceName} not ready: ${appReady}`);

  const results: StartedTarget[] = [];
  if (wanted.oneHop) {
    const url = `http://${benchAddresses.appPod}:${ports.inbound}/`;
    const problem = await pollHttp(url, null, routeTimeoutMs, expectUpstreamBody(upstreamBodyBytes), () => exitedProblem(appSidecar, control));
    results.push(problem !== null
      ? { name: 'trellis-1-hop', skipped: `inbound path does not work: ${problem}` }
      : { name: 'trellis-1-hop', url, hostHeader: null, hops: 1, proxyPids: [appSidecar.pid], note: null });
  }
  if (wanted.mesh) {
    const clientSidecar = startSidecar(ctx, cli, dir, clientServiceName, benchAddresses.clientPod, app, `${controlAddr}:${ports.xds}`);
    const clientReady = await waitReady(ctx, clientSidecar, benchAddresses.clientPod, control);
    if (clientReady !== null) {
      results.push({ name: 'trellis-mesh', skipped: `sidecar ${clientServiceName} not ready: ${clientReady}` });
    } else {
      const url = `http://${benchAddresses.clientPod}:${ports.outbound}/`;
      const problem = await pollHttp(url, meshServiceName, routeTimeoutMs, expectUpstreamBody(upstreamBodyBytes),
        () => exitedProblem(clientSidecar, control) ?? exitedProblem(appSidecar, control));
      results.push(problem !== null
        ? { name: 'trellis-mesh', skipped: `mesh path does not work: ${problem}` }
        : { name: 'trellis-mesh', url, hostHeader: meshServiceName, hops: 2, proxyPids: [clientSidecar.pid, appSidecar.pid], note: 'CPU and RSS are the sum of both sidecars; HTTP/1.1 between them (h2UpgradePolicy DO_NOT_UPGRADE, the default)' });
    }
  }
  return results;
}

/** `extra`: more `trellis proxy` flags (e.g. `--token` for a workload certificate). */
export function startSidecar(
  ctx: BenchContext, cli: string, dir: string, service: string, address: string, app: string, control: string, extra: readonly string[] = [],
): BenchChild {
  return ctx.children.spawn(`trellis-proxy-${service}`, process.execPath, [
    ...ctx.sidecarNodeArgs, cli, 'proxy', '--service', service, '--app', app, '--address', address, '--control', control,
    '--state-dir', join(dir, `state-${service}`), '--log-level', 'warn', ...extra,
  ], { cpus: ctx.proxyCpus, output: 'log' });
}

export async function waitReady(ctx: BenchContext, sidecar: BenchChild, address: string, control: BenchChild): Promise<string | null> {
  ctx.say(`waiting for ${sidecar.name} at ${address}...`);
  const problem = await pollHttp(`http://${address}:${ports.admin}/ready`, null, readyTimeoutMs, expectStatus(200), () => exitedProblem(sidecar, control));
  // Still running but never ready: its own log usually says why (no config, NACK, ...).
  return problem === null || !sidecar.isRunning() || !control.isRunning() ? problem : `${problem}; log: ${sidecar.logTail(3)}`;
}

export function exitedProblem(sidecar: BenchChild, control: BenchChild): string | null {
  if (!control.isRunning()) return `control plane exited: ${control.logTail(5)}`;
  if (!sidecar.isRunning()) return `${sidecar.name} exited: ${sidecar.logTail(5)}`;
  return null;
}
