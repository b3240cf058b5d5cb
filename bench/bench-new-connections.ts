// New-connection rates against the mTLS sidecar's inbound listener, measured in each repeat beside
// the wrk targets: plain TCP connects, then full mTLS handshakes, each by bench-handshake-client
// pinned with the load, while the sidecar's CPU is read from /proc over the run.
import { join } from 'node:path';
import type { BenchChildren } from './bench-children.js';
import type { NewConnectionRun } from './bench-handshake-client.js';
import { cpuSeconds, withDescendants } from './bench-proc.js';

/** What the mTLS target prepared for the handshake client. */
export interface NewConnectionSetup {
  readonly host: string;
  readonly port: number;
  /** A mesh certificate (with its chain), its key and the trust bundle, as PEM files. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** The SPIFFE id the listener's sidecar must present. */
  readonly expectId: string;
  readonly alpn: readonly string[];
  /** Local addresses the client connects from, in turn. */
  readonly sources: readonly string[];
  /** The sidecar behind the listener. */
  readonly sidecarPids: readonly number[];
}

export interface NewConnectionOptions {
  readonly seconds: number;
  readonly concurrency: number;
  readonly warmup: number;
}

/** One mode's run in one repeat, with the sidecar's CPU over it. */
export interface NewConnectionMeasured extends NewConnectionRun {
  readonly repeat: number;
  readonly sidecarCpuSeconds: number;
}

export const newConnectionModes = ['tcp', 'tls'] as const;

/** Slack over the run's own duration before the client is considered hung. */
const hangSlackMs = 20_000;

export interface NewConnectionEnv {
  readonly children: BenchChildren;
  readonly repoRoot: string;
  readonly loadCpus: string | null;
  readonly ticksPerSecond: number;
}

/** A warm-up and a measured run of one mode. */
export async function measureNewConnections(
  env: NewConnectionEnv, setup: NewConnectionSetup, mode: 'tcp' | 'tls', options: NewConnectionOptions, repeat: number,
): Promise<NewConnectionMeasured | Error> {
  const pids = withDescendants(setup.sidecarPids);
  if (setup.sidecarPids.some((pid) => !pids.includes(pid))) return new Error(`the sidecar is gone (pids ${setup.sidecarPids.join(', ')})`);
  if (options.warmup > 0) {
    const warm = await runClient(env, setup, mode, options.warmup, options.concurrency);
    if (warm instanceof Error) return new Error(`warm-up: ${warm.message}`);
  }
  const before = cpuSeconds(pids, env.ticksPerSecond);
  const run = await runClient(env, setup, mode, options.seconds, options.concurrency);
  const after = cpuSeconds(pids, env.ticksPerSecond);
  if (run instanceof Error) return run;
  return { ...run, repeat, sidecarCpuSeconds: after - before };
}

async function runClient(env: NewConnectionEnv, setup: NewConnectionSetup, mode: 'tcp' | 'tls', seconds: number, concurrency: number): Promise<NewConnectionRun | Error> {
  const script = join(env.repoRoot, 'dist', 'bench', 'bench-handshake-client.js');
  const args = [script, '--mode', mode, '--target', `${setup.host}:${setup.port}`, '--seconds', String(seconds),
    '--concurrency', String(concurrency), '--sources', setup.sources.join(',')];
  if (mode === 'tls') {
    args.push('--cert', setup.certFile, '--key', setup.keyFile, '--ca', setup.caFile, '--expect-id', setup.expectId, '--alpn', setup.alpn.join(','));
  }
  const child = env.children.spawn(`handshake-client-${mode}`, process.execPath, args, { cpus: env.loadCpus, output: 'pipe' });
  const deadline = new Promise<'hung'>((resolve) => setTimeout(resolve, seconds * 1000 + hangSlackMs, 'hung').unref());
  const outcome = await Promise.race([child.exited, deadline]);
  if (outcome === 'hung') {
    await env.children.stop(child);
    return new Error(`handshake client did not finish within ${seconds}s + ${hangSlackMs / 1000}s`);
  }
  if (outcome.spawnError !== null) return outcome.spawnError;
  if (outcome.code !== 0) return new Error(`handshake client exited with ${outcome.code ?? outcome.signal}: ${child.logTail(3)}`);
  try {
    return JSON.parse(child.stdout()) as NewConnectionRun;
  } catch {
    return new Error(`handshake client printed no result: ${child.stdout().slice(0, 200)}`);
  }
}
