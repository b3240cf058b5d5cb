import { join } from 'node:path';
import type { BenchChildren } from './bench-children.js';
import { runH2load } from './bench-h2load.js';
import { h2LatencySeconds, type BenchOptions } from './bench-options.js';
import { cpuSeconds, withDescendants } from './bench-proc.js';
import { RssPeakSampler } from './bench-rss-sampler.js';
import type { BenchTarget } from './bench-target.js';
import { runWrk, type WrkRun } from './bench-wrk.js';
import type { WrkResult } from './bench-wrk-output.js';

/** One target's measurements in one repeat of the set. */
export interface RepeatResult {
  readonly repeat: number;
  /** The throughput run (wrk: options.connections; h2load: h2Connections × h2Streams). */
  readonly throughput: WrkResult;
  /** The latency run (options.latencyConnections, wrk --latency; h2load: one stream each). */
  readonly latency: WrkResult;
  /** utime+stime of all the proxy's processes over the throughput run; null for direct. */
  readonly cpuSeconds: number | null;
  /** Peak summed RSS over both runs, sampled every 200 ms; null for direct. */
  readonly rssPeakBytes: number | null;
  readonly pids: readonly number[];
}

export interface MeasureEnv {
  readonly children: BenchChildren;
  /** null when not found: targets loaded by it fail with the reason. */
  readonly wrkPath: string | null;
  readonly h2loadPath: string | null;
  /** Where h2load writes its per-request logs. */
  readonly tmpDir: string;
  readonly loadCpus: string | null;
  readonly ticksPerSecond: number;
}

/** Warm-up, throughput run with CPU accounting, warm-up, latency run; RSS sampled throughout. */
export async function measureOnce(env: MeasureEnv, target: BenchTarget, options: BenchOptions, repeat: number): Promise<RepeatResult | Error> {
  const hasProxy = target.proxyPids.length > 0;
  const pids = hasProxy ? withDescendants(target.proxyPids) : [];
  if (hasProxy && target.proxyPids.some((pid) => !pids.includes(pid))) {
    return new Error(`a proxy process of ${target.name} is gone (pids ${target.proxyPids.join(', ')})`);
  }
  const load = loadRunner(env, target, options);
  if (load instanceof Error) return load;
  // HTTP/2 targets run shorter, so that the default bench stays within its time.
  const [runSeconds, latencySeconds] = target.h2load === undefined ? [options.duration, options.latencyDuration] : [options.h2Duration, h2LatencySeconds(options)];

  if (options.warmup > 0) {
    const warm = await load('throughput', options.warmup, false);
    if (warm instanceof Error) return new Error(`warm-up: ${warm.message}`);
  }
  const sampler = new RssPeakSampler(pids);
  try {
    const cpuBefore = cpuSeconds(pids, env.ticksPerSecond);
    const throughput = await load('throughput', runSeconds, false);
    const cpuAfter = cpuSeconds(pids, env.ticksPerSecond);
    if (throughput instanceof Error) return throughput;
    if (throughput.requests === 0) return new Error(`no request completed in the ${runSeconds}s throughput run`);
    if (options.warmup > 0) {
      const warm = await load('latency', options.warmup, false);
      if (warm instanceof Error) return new Error(`warm-up: ${warm.message}`);
    }
    const latency = await load('latency', latencySeconds, true);
    if (latency instanceof Error) return latency;
    if (latency.requests === 0) return new Error(`no request completed in the ${latencySeconds}s latency run`);
    const peak = sampler.stop();
    return {
      repeat,
      throughput,
      latency,
      cpuSeconds: hasProxy ? cpuAfter - cpuBefore : null,
      rssPeakBytes: hasProxy ? peak : null,
      pids,
    };
  } finally {
    sampler.stop();
  }
}

/** One run of the target's load generator: the throughput or the latency shape, percentiles or not. */
type LoadRun = (shape: 'throughput' | 'latency', seconds: number, percentiles: boolean) => Promise<WrkResult | Error>;

/**
 * wrk for HTTP/1.1 targets; h2load for HTTP/2 ones, whose throughput run keeps h2Connections ×
 * h2Streams requests in flight and whose latency run latencyConnections connections of one
 * stream each (as wrk's), warm-ups included (a separate run, so /proc CPU covers the measured one).
 */
function loadRunner(env: MeasureEnv, target: BenchTarget, options: BenchOptions): LoadRun | Error {
  const h2 = target.h2load;
  if (h2 === undefined) {
    const wrkPath = env.wrkPath;
    if (wrkPath === null) return new Error('wrk is not available');
    const base = { url: target.url, hostHeader: target.hostHeader };
    return (shape, seconds, latency) => runWrk(env.children, wrkPath, env.loadCpus, {
      ...base, connections: shape === 'throughput' ? options.connections : options.latencyConnections, seconds, latency,
    } satisfies WrkRun);
  }
  const h2loadPath = env.h2loadPath;
  if (h2loadPath === null) return new Error('h2load is not available');
  return (shape, seconds, percentiles) => runH2load(env.children, h2loadPath, env.loadCpus, h2, {
    connections: shape === 'throughput' ? options.h2Connections : options.latencyConnections,
    streams: shape === 'throughput' ? options.h2Streams : 1,
    seconds,
    logFile: percentiles ? join(env.tmpDir, `h2load-${target.name}.log`) : null,
  });
}
