// Tables for people, JSON for scripts: every read command goes through here.

export type OutputFormat = 'table' | 'json';

export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'json' || value === 'table' || value === 'wide') return value === 'wide' ? 'table' : value;
  throw new Error(`unknown output format "${value}"; use -o json or -o table`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Prints rows as an aligned table; `columns` maps a header to how a row shows in that column. */
export function printTable<T>(rows: T[], columns: [header: string, cell: (row: T) => unknown][], empty = 'No resources found.'): void {
  if (rows.length === 0) {
    process.stdout.write(empty + '\n');
    return;
  }
  const cells = rows.map((r) => columns.map(([, f]) => show(f(r))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (parts: string[]) => parts.map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]))).join('   ').trimEnd();
  process.stdout.write([line(columns.map(([h]) => h)), ...cells.map(line)].join('\n') + '\n');
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map(show).join(',') : '-';
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length ? entries.map(([k, x]) => `${k}=${show(x)}`).join(',') : '-';
  }
  return String(v);
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
