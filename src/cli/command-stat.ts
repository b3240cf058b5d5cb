// `trellis stat`: the golden metrics the control plane gathers from the sidecars.
import type { StatsRow } from '../control/telemetry/stats-history.js';
import { apiRequest } from './api-client.js';
import { printJson, printTable, type OutputFormat } from './output.js';

/** The rows of GET /api/v1/stats, as the control plane defines them (a type only: nothing of the control plane loads here). */
export type StatRow = StatsRow;

export interface StatFlags {
  window: string;
  output: OutputFormat;
  watch: boolean;
  /** --watch refresh period. */
  intervalMs?: number;
}

const pct = (v: number | null) => (v === null ? null : `${(v * 100).toFixed(2)}%`);
const ms = (v: number | null) => (v === null ? null : `${v < 10 ? v.toFixed(2) : v.toFixed(1)}ms`);

const columns: [string, (r: StatRow) => unknown][] = [
  ['SERVICE', (r) => (r.kind === 'edge' ? `${r.from} -> ${r.to}` : r.service)],
  ['ROUTE', (r) => (r.kind === 'edge' ? '(edge)' : r.route ?? '(all)')],
  ['RPS', (r) => r.rps.toFixed(2)],
  ['SUCCESS', (r) => pct(r.successRate)],
  ['P50', (r) => ms(r.p50Ms)],
  ['P95', (r) => ms(r.p95Ms)],
  ['P99', (r) => ms(r.p99Ms)],
  ['REQUESTS', (r) => r.requests],
];

export function statPath(service: string | undefined, window: string): string {
  const q = new URLSearchParams({ window });
  if (service) q.set('service', service);
  return `/api/v1/stats?${q}`;
}

export function renderStat(rows: StatRow[], output: OutputFormat, window: string): void {
  if (output === 'json') printJson(rows);
  else printTable(rows, columns, `No traffic seen in the last ${window}.`);
}

export async function statCommand(apiUrl: string, service: string | undefined, flags: StatFlags): Promise<number> {
  const path = statPath(service, flags.window);
  if (!flags.watch) {
    renderStat(await apiRequest<StatRow[]>(apiUrl, 'GET', path), flags.output, flags.window);
    return 0;
  }
  let stop = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop) {
      const rows = await apiRequest<StatRow[]>(apiUrl, 'GET', path);
      // clear the screen for a table; JSON stays a stream of arrays a script can read
      if (flags.output === 'table' && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      if (flags.output === 'table') process.stdout.write(`${new Date().toISOString()}  window ${flags.window}\n`);
      renderStat(rows, flags.output, flags.window);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, flags.intervalMs ?? 2000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}
