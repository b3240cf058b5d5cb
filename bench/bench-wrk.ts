import type { BenchChildren } from './bench-children.js';
import { parseWrkOutput, type WrkResult } from './bench-wrk-output.js';

export interface WrkRun {
  readonly url: string;
  readonly hostHeader: string | null;
  readonly connections: number;
  readonly seconds: number;
  readonly latency: boolean;
}

/** Slack over the run's own duration before wrk is considered hung and killed. */
const hangSlackMs = 20_000;

/** One wrk run with a single thread (the load generator shares its core with the upstream). */
export async function runWrk(
  children: BenchChildren, wrkPath: string, cpus: string | null, run: WrkRun,
): Promise<WrkResult | Error> {
  const args = ['-t1', `-c${run.connections}`, `-d${run.seconds}s`];
  if (run.latency) args.push('--latency');
  if (run.hostHeader !== null) args.push('-H', `Host: ${run.hostHeader}`);
  args.push(run.url);
  const child = children.spawn('wrk', wrkPath, args, { cpus, output: 'pipe' });
  const deadline = new Promise<'hung'>((resolve) => setTimeout(resolve, run.seconds * 1000 + hangSlackMs, 'hung').unref());
  const outcome = await Promise.race([child.exited, deadline]);
  if (outcome === 'hung') {
    await children.stop(child);
    return new Error(`wrk did not finish within ${run.seconds}s + ${hangSlackMs / 1000}s`);
  }
  if (outcome.spawnError !== null) return outcome.spawnError;
  if (outcome.code !== 0) return new Error(`wrk exited with ${outcome.code ?? outcome.signal}: ${child.logTail(3)}`);
  return parseWrkOutput(child.stdout());
}
