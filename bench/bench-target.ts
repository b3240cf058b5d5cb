import type { BenchChildren } from './bench-children.js';
import type { H2loadRequest } from './bench-h2load.js';
import type { TargetName } from './bench-options.js';
import type { ToolLookup, ToolName } from './bench-tools.js';

/** A running path under test, ready for wrk (HTTP/1.1) or, with `h2load`, for h2load (HTTP/2). */
export interface BenchTarget {
  readonly name: TargetName;
  /** wrk's URL and Host header (unused with h2load). */
  readonly url: string;
  readonly hostHeader: string | null;
  /** The target is loaded with h2load, with these requests, instead of wrk. */
  readonly h2load?: H2loadRequest;
  /** The direct target whose p50 `+p50/hop` is measured from ('direct' when absent). */
  readonly direct?: TargetName;
  /** Proxies between wrk and the upstream (0 for direct, 2 for the mesh). */
  readonly hops: number;
  /** Root pids of the proxy's processes; their descendants count too. Empty for direct. */
  readonly proxyPids: readonly number[];
  readonly note: string | null;
  /** A target of the same run this one is a variant of; the report gives the ratios between them. */
  readonly baseline?: TargetName;
  /** Facts known only once every run is over (e.g. counters of the proxies), added to the note. */
  readonly afterRuns?: () => Promise<string>;
}

export interface SkippedTarget {
  readonly name: TargetName;
  readonly skipped: string;
}

export type StartedTarget = BenchTarget | SkippedTarget;

export function isSkipped(t: StartedTarget): t is SkippedTarget {
  return 'skipped' in t;
}

export interface Upstream {
  readonly kind: 'nginx' | 'node';
  readonly host: string;
  readonly port: number;
  /** Why the fallback was used, when it was. */
  readonly note: string | null;
}

export interface BenchContext {
  readonly children: BenchChildren;
  readonly tmpDir: string;
  readonly repoRoot: string;
  /** taskset CPU lists: the proxy under test, and wrk + upstream. null = unpinned. */
  readonly proxyCpus: string | null;
  readonly loadCpus: string | null;
  /** Node flags for every Trellis sidecar (the --cpu-prof option); empty normally. */
  readonly sidecarNodeArgs: readonly string[];
  readonly tools: ReadonlyMap<ToolName, ToolLookup>;
  readonly say: (line: string) => void;
}
