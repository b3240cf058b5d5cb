// A variant of the `trellis-mesh` path (client → sidecar → sidecar → upstream) with its own control
// plane, MeshConfig and sidecar flags, so that it can be measured beside `trellis-mesh` without
// touching it: the telemetry targets and `trellis-mesh-h2-upgrade`. Each variant is checked to run
// as it says (its `settled` probe on each sidecar) before it is measured.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientServiceName, meshServiceName, upstreamBodyBytes } from './bench-addresses.js';
import { expectStatus, expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import type { TargetName } from './bench-options.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { exitedProblem, startSidecar, waitReady } from './bench-target-trellis.js';
import { ports } from '../src/common/ports.js';

export interface MeshVariant {
  readonly name: TargetName;
  readonly addresses: { readonly control: string; readonly appPod: string; readonly clientPod: string };
  /** YAML of a MeshConfig applied before the sidecars start; null = the defaults. */
  readonly meshConfig: string | null;
  readonly sidecarFlags: readonly string[];
  /** Null once the sidecar at this address runs as the variant says, else what is still wrong. */
  readonly settled: (address: string) => Promise<string | null>;
  readonly baseline?: TargetName;
  readonly note: string;
}

export async function startMeshVariant(ctx: BenchContext, upstream: Upstream, v: MeshVariant): Promise<StartedTarget> {
  const { name, addresses: a } = v;
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli', 'main.js');
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const control = ctx.children.spawn(`trellis-control-${name}`, process.execPath,
    [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', a.control], { cpus: ctx.loadCpus, output: 'log' });
  const apiUrl = `http://${a.control}:${ports.controlApi}`;
  const up = await pollHttp(`${apiUrl}/api/v1/health`, null, 30_000, expectStatus(200), () => (control.isRunning() ? null : `control exited: ${control.logTail(5)}`));
  if (up !== null) return { name, skipped: `control plane did not start: ${up}` };
  if (v.meshConfig !== null) {
    const token = readFileSync(join(dir, 'control', 'admin-token'), 'utf8').trim().split('\n')[0];
    const res = await fetch(`${apiUrl}/api/v1/resources`, { method: 'POST', body: v.meshConfig, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' } });
    if (!res.ok) return { name, skipped: `MeshConfig refused: ${res.status} ${await res.text()}` };
  }
  const app = `${upstream.host}:${upstream.port}`;
  const xds = `${a.control}:${ports.controlXds}`;
  const appSidecar = startSidecar(ctx, cli, dir, meshServiceName, a.appPod, app, xds, v.sidecarFlags);
  const clientSidecar = startSidecar(ctx, cli, dir, clientServiceName, a.clientPod, app, xds, v.sidecarFlags);
  for (const [sc, addr] of [[appSidecar, a.appPod], [clientSidecar, a.clientPod]] as const) {
    const ready = await waitReady(ctx, sc, addr, control);
    if (ready !== null) return { name, skipped: `sidecar ${sc.name} not ready: ${ready}` };
    const settled = await settle(() => v.settled(addr), 20_000);
    if (settled !== null) return { name, skipped: settled };
  }
  const url = `http://${a.clientPod}:${ports.proxyOutbound}/`;
  const problem = await pollHttp(url, meshServiceName, 20_000, expectUpstreamBody(upstreamBodyBytes),
    () => exitedProblem(clientSidecar, control) ?? exitedProblem(appSidecar, control));
  if (problem !== null) return { name, skipped: `mesh path does not work: ${problem}` };
  return { name, url, hostHeader: meshServiceName, hops: 2, proxyPids: [clientSidecar.pid, appSidecar.pid], note: v.note, ...(v.baseline ? { baseline: v.baseline } : {}) };
}

/** Polls a probe until it says null or the time is up (then its last answer). */
async function settle(probe: () => Promise<string | null>, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await probe().catch((err: Error) => err.message);
    if (problem === null || Date.now() >= deadline) return problem;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A sidecar's /config_dump, parsed. */
export async function configDump(address: string): Promise<Record<string, any>> {
  return await (await fetch(`http://${address}:${ports.proxyAdmin}/config_dump`)).json() as Record<string, any>;
}
