// The sidecar's process metrics under `trellis_proxy_`: the names, help texts, types and labels of
// prom-client 15's default metrics, which the sidecar exposed before it had its own registry
// (dashboards and the control plane read them: process_start_time_seconds tells a restarted sidecar).
// Everything is read when Prometheus scrapes, except the GC histogram (fed by a PerformanceObserver)
// and the event-loop delay (sampled by Node itself, as prom-client did, every 10 ms).
import { readdirSync, readFileSync } from 'node:fs';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { HistogramFamily, ScrapeFamily, type EmitSample } from './metric-families.js';
import type { MetricRegistry } from './metric-registry.js';

export const gcDurationBuckets = [0.001, 0.01, 0.1, 1, 2, 5] as const;

const gcKinds = new Map<number, string>([
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [perfConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** The process's own handles and requests (undocumented, as prom-client read them). */
interface ProcessInternals {
  _getActiveHandles?: () => object[];
  _getActiveRequests?: () => object[];
}

/** Registers the process families on `registry`; returns a function that stops their samplers. */
export function registerProcessMetrics(registry: MetricRegistry, prefix: string): () => void {
  const family = (name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[], read: (emit: EmitSample) => void) =>
    registry.registerMetric(new ScrapeFamily(prefix + name, help, type, labelNames, read));

  family('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', 'counter', [], (emit) => emit(process.cpuUsage().user / 1e6));
  family('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', 'counter', [], (emit) => emit(process.cpuUsage().system / 1e6));
  family('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter', [], (emit) => {
    const u = process.cpuUsage();
    emit((u.user + u.system) / 1e6);
  });
  // timeOrigin is when this process started (ms since the epoch), to the millisecond.
  const startSeconds = performance.timeOrigin / 1000;
  family('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', 'gauge', [], (emit) => emit(startSeconds));

  // One read of /proc/self/status per scrape serves the three families that follow each other.
  let status: ProcStatus | null = null;
  family('process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', [], (emit) => {
    status = readProcStatus();
    if (status?.VmRSS !== undefined) emit(status.VmRSS);
    else if (status === null) emit(process.memoryUsage.rss());
  });
  family('process_virtual_memory_bytes', 'Virtual memory size in bytes.', 'gauge', [], (emit) => {
    if (status?.VmSize !== undefined) emit(status.VmSize);
  });
  family('process_heap_bytes', 'Process heap size in bytes.', 'gauge', [], (emit) => {
    if (status?.VmData !== undefined) emit(status.VmData);
  });
  family('process_open_fds', 'Number of open file descriptors.', 'gauge', [], (emit) => {
    const n = openFds();
    if (n !== null) emit(n);
  });
  const maxFds = readMaxFds();
  family('process_max_fds', 'Maximum number of open file descriptors.', 'gauge', [], (emit) => {
    if (maxFds !== null) emit(maxFds);
  });

  const stopEventLoop = registerEventLoopLag(family);

  family('nodejs_active_resources', 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    'gauge', ['type'], (emit) => emitCounts(emit, process.getActiveResourcesInfo()));
  family('nodejs_active_resources_total', 'Total number of active resources.', 'gauge', [], (emit) => emit(process.getActiveResourcesInfo().length));
  const internals = process as unknown as ProcessInternals;
  const handles = internals._getActiveHandles;
  if (typeof handles === 'function') {
    family('nodejs_active_handles', 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
      'gauge', ['type'], (emit) => emitCounts(emit, handles.call(process).map(constructorName)));
    family('nodejs_active_handles_total', 'Total number of active handles.', 'gauge', [], (emit) => emit(handles.call(process).length));
  }
  const requests = internals._getActiveRequests;
  if (typeof requests === 'function') {
    family('nodejs_active_requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
      'gauge', ['type'], (emit) => emitCounts(emit, requests.call(process).map(constructorName)));
    family('nodejs_active_requests_total', 'Total number of active requests.', 'gauge', [], (emit) => emit(requests.call(process).length));
  }

  let memory: NodeJS.MemoryUsage | null = null;
  family('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', 'gauge', [], (emit) => {
    memory = process.memoryUsage();
    emit(memory.heapTotal);
  });
  family('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', 'gauge', [], (emit) => {
    if (memory !== null) emit(memory.heapUsed);
  });
  family('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', 'gauge', [], (emit) => {
    if (memory !== null) emit(memory.external);
  });

  let spaces: ReturnType<typeof getHeapSpaceStatistics> = [];
  const spaceName = (s: { space_name: string }) => s.space_name.slice(0, s.space_name.indexOf('_space'));
  family('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', 'gauge', ['space'], (emit) => {
    spaces = getHeapSpaceStatistics();
    for (const s of spaces) emit(s.space_size, spaceName(s));
  });
  family('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', 'gauge', ['space'], (emit) => {
    for (const s of spaces) emit(s.space_used_size, spaceName(s));
  });
  family('nodejs_heap_space_size_available_bytes', 'Process heap space size available from Node.js in bytes.', 'gauge', ['space'], (emit) => {
    for (const s of spaces) emit(s.space_available_size, spaceName(s));
  });

  const [major, minor, patch] = process.versions.node.split('.');
  family('nodejs_version_info', 'Node.js version info.', 'gauge', ['version', 'major', 'minor', 'patch'],
    (emit) => emit(1, process.version, major, minor, patch));

  const gc = new HistogramFamily(`${prefix}nodejs_gc_duration_seconds`,
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', ['kind'], gcDurationBuckets);
  registry.registerMetric(gc);
  const gcCells = new Map([...gcKinds].map(([k, name]) => [k, gc.cell(name)]));
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } | null }).detail?.kind;
      if (kind !== undefined) gcCells.get(kind)?.observe(e.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  return () => {
    stopEventLoop();
    observer.disconnect();
  };
}

/**
 * `nodejs_eventloop_lag_seconds`: the delay of a setImmediate scheduled at the previous scrape; the
 * others summarize Node's own delay sampler since the previous scrape (then reset it).
 */
function registerEventLoopLag(family: (name: string, help: string, type: 'gauge', labelNames: readonly string[], read: (emit: EmitSample) => void) => void): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let lag = 0;
  const summary = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  family('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', 'gauge', [], (emit) => {
    emit(lag);
    const start = process.hrtime.bigint();
    setImmediate(() => (lag = Number(process.hrtime.bigint() - start) / 1e9));
    summary.min = delay.min / 1e9;
    summary.max = delay.max / 1e9;
    summary.mean = delay.mean / 1e9;
    summary.stddev = delay.stddev / 1e9;
    summary.p50 = delay.percentile(50) / 1e9;
    summary.p90 = delay.percentile(90) / 1e9;
    summary.p99 = delay.percentile(99) / 1e9;
    delay.reset();
  });
  const stat = (name: string, help: string, key: keyof typeof summary) => family(name, help, 'gauge', [], (emit) => emit(summary[key]));
  stat('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'min');
  stat('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'max');
  stat('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'mean');
  stat('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', 'stddev');
  stat('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'p50');
  stat('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', 'p90');
  stat('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'p99');
  return () => delay.disable();
}

type ProcStatus = Partial<Record<'VmRSS' | 'VmSize' | 'VmData', number>>;

/** VmRSS, VmSize and VmData in bytes from /proc/self/status; null where there is no procfs. */
export function readProcStatus(): ProcStatus | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
  const out: ProcStatus = {};
  for (const m of text.matchAll(/^(VmRSS|VmSize|VmData):\s+(\d+) kB$/gm)) out[m[1] as keyof ProcStatus] = Number(m[2]) * 1024;
  return out;
}

function openFds(): number | null {
  try {
    // readdirSync's own descriptor is in the listing while it reads: not one of ours.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

function readMaxFds(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function constructorName(o: object): string {
  return o.constructor?.name ?? 'Object';
}

function emitCounts(emit: EmitSample, names: readonly string[]): void {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  for (const [n, c] of counts) emit(c, n);
}
