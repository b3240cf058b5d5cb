// How figures read on the dashboard: short, with their unit, and "–" where there is no value.

export const none = '–';

export function fmtRps(v: number | null | undefined): string {
  if (v === null || v === undefined) return none;
  return v >= 100 ? `${v.toFixed(0)} rps` : v >= 10 ? `${v.toFixed(1)} rps` : `${v.toFixed(2)} rps`;
}

export function fmtPct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined ? none : `${(v * 100).toFixed(digits)}%`;
}

export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return none;
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`;
}

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export type Health = 'good' | 'warn' | 'bad' | 'idle';

/** Success rate → health: at least 99% good, at least 95% warning, else bad; no traffic idle. */
export function health(successRate: number | null | undefined, requests = 1): Health {
  if (successRate === null || successRate === undefined || requests === 0) return 'idle';
  return successRate >= 0.99 ? 'good' : successRate >= 0.95 ? 'warn' : 'bad';
}

export const healthColor: Record<Health, string> = { good: '#2e9e5b', warn: '#d89614', bad: '#d64545', idle: '#9aa3ad' };

export function fmtLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(', ') : none;
}
