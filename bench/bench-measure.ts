import type { BenchChildren } from './bench-children.js';
import type { BenchOptions } from './bench-options.js';
import { cpuSeconds, withDescendants } from './bench-proc.js';
import { RssPeakSampler } from './bench-rss-sampler.js';
import type { BenchTarget } from './bench-target.js';
import { runWrk, type WrkRun } from './bench-wrk.js';
import type { WrkResult } from './bench-wrk-output.js';

/** One target's measurements in one repeat of the set. */
export interface RepeatResult {
  readonly repeat: number;
  /** The throughput run (options.connections). */
  readonly throughput: WrkResult;
  /** The latency run (options.latencyConnections, wrk --latency). */
  readonly latency: WrkResult;
  /** utime+stime of all the proxy's processes over the throughput run; null for direct. */
  readonly cpuSeconds: number | null;
  /** Peak summed RSS over both runs, sampled every 200 ms; null for direct. */
  readonly rssPeakBytes: number | null;
  readonly pids: readonly number[];
}

export interface MeasureEnv {
  readonly children: BenchChildren;
  readonly wrkPath: string;
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
  const base = { url: target.url, hostHeader: target.hostHeader };
  const wrk = (run: WrkRun): Promise<WrkResult | Error> => runWrk(env.children, env.wrkPath, env.loadCpus, run);

  if (options.warmup > 0) {
    const warm = await wrk({ ...base, connections: options.connections, seconds: options.warmup, latency: false });
    if (warm instanceof Error) return new Error(`warm-up: ${warm.message}`);
  }
  const sampler = new RssPeakSampler(pids);
  try {
    const cpuBefore = cpuSeconds(pids, env.ticksPerSecond);
    const throughput = await wrk({ ...base, connections: options.connections, seconds: options.duration, latency: false });
    const cpuAfter = cpuSeconds(pids, env.ticksPerSecond);
    if (throughput instanceof Error) return throughput;
    if (options.warmup > 0) {
      const warm = await wrk({ ...base, connections: options.latencyConnections, seconds: options.warmup, latency: false });
      if (warm instanceof Error) return new Error(`warm-up: ${warm.message}`);
    }
    const latency = await wrk({ ...base, connections: options.latencyConnections, seconds: options.latencyDuration, latency: true });
    if (latency instanceof Error) return latency;
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
