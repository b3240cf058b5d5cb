import type { BenchEnvironment } from './bench-environment.js';
import type { NewConnectionsReport } from './bench-new-connections-summary.js';
import type { BenchOptions } from './bench-options.js';
import type { TargetSummary } from './bench-summary.js';

/** Everything one `npm run bench` produced; written as JSON as is. */
export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: BenchOptions;
  readonly environment: BenchEnvironment;
  readonly upstream: { readonly kind: 'nginx' | 'node'; readonly note: string | null };
  /** 1-minute load average before and after: other work on the machine makes the figures noisy. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly pinning: { readonly proxyCpus: string | null; readonly loadCpus: string | null; readonly note: string | null };
  readonly targets: readonly TargetSummary[];
  /** New connections to the mTLS sidecar (with `trellis-mesh-mtls`); null when that target was not selected. */
  readonly newConnections: NewConnectionsReport | { readonly skipped: string } | null;
}
