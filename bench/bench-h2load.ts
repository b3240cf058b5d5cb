import { readFileSync, rmSync } from 'node:fs';
import type { BenchChildren } from './bench-children.js';
import { h2loadErrors, h2loadLogPercentiles, parseH2loadSummary, type H2loadResult } from './bench-h2load-output.js';

/** What every h2load run of a target sends: h2c with prior knowledge to `url`. */
export interface H2loadRequest {
  readonly url: string;
  /** `:authority` (the Service, through the mesh); null keeps the URL's. */
  readonly authority: string | null;
  /** More request headers, `name: value`. */
  readonly headers: readonly string[];
  /** A file POSTed as the body of every request; null sends GETs. */
  readonly dataFile: string | null;
  /** Body bytes every answer must carry (DATA payload); fewer count as errors. */
  readonly expectBodyBytes: number;
}

export interface H2loadRun {
  readonly connections: number;
  /** Streams in flight per connection (`-m`). */
  readonly streams: number;
  readonly seconds: number;
  /** Where h2load logs every request, for p50/p99 (removed afterwards); null: no percentiles. */
  readonly logFile: string | null;
}

/** Slack over the run's own duration before h2load is considered hung and killed. */
const hangSlackMs = 20_000;

/** h2load's arguments for a run (one thread: it shares its core with the upstream). */
export function h2loadArgs(request: H2loadRequest, run: H2loadRun): string[] {
  const args = ['-t1', `-c${run.connections}`, `-m${run.streams}`, '-D', String(run.seconds)];
  if (request.authority !== null) args.push('-H', `:authority: ${request.authority}`);
  for (const h of request.headers) args.push('-H', h);
  if (request.dataFile !== null) args.push('-d', request.dataFile);
  if (run.logFile !== null) args.push('--log-file', run.logFile);
  args.push(request.url);
  return args;
}

export async function runH2load(
  children: BenchChildren, h2loadPath: string, cpus: string | null, request: H2loadRequest, run: H2loadRun,
): Promise<H2loadResult | Error> {
  const child = children.spawn('h2load', h2loadPath, h2loadArgs(request, run), { cpus, output: 'pipe' });
  try {
    const deadline = new Promise<'hung'>((resolve) => setTimeout(resolve, run.seconds * 1000 + hangSlackMs, 'hung').unref());
    const outcome = await Promise.race([child.exited, deadline]);
    if (outcome === 'hung') {
      await children.stop(child);
      return new Error(`h2load did not finish within ${run.seconds}s + ${hangSlackMs / 1000}s`);
    }
    if (outcome.spawnError !== null) return outcome.spawnError;
    // h2load exits 0 even when nothing connected; its summary says so.
    if (outcome.code !== 0) return new Error(`h2load exited with ${outcome.code ?? outcome.signal}: ${child.logTail(3)}`);
    const summary = parseH2loadSummary(child.stdout());
    if (summary instanceof Error) return summary;
    // Nothing sent: no connection (h2load says no more than that). Sent but none done is a slow path, for the caller to judge.
    if (summary.started === 0) return new Error(`h2load sent no request to ${request.url}: no connection`);
    const percentiles = run.logFile === null ? { p50Ms: null, p99Ms: null } : h2loadLogPercentiles(readFileSync(run.logFile, 'utf8'));
    if (percentiles instanceof Error) return percentiles;
    return { ...summary, ...percentiles, ...h2loadErrors(summary, request.expectBodyBytes) };
  } finally {
    if (run.logFile !== null) rmSync(run.logFile, { force: true });
  }
}
