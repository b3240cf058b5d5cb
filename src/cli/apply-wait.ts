// `trellis apply --wait`: after the control plane stored a change at store revision R, wait until
// every connected proxy has ACKed a snapshot that reflects R (its ackedRevision >= R), or fail
// naming those that have not. A proxy that NACKed the snapshot carrying R fails the wait at once.
import { apiRequest } from './api-client.js';

export interface ProxyProgress {
  id: string;
  connected: boolean;
  ackedRevision: number | null;
  sentRevision: number | null;
  ackedVersion: string | null;
  sentVersion: string | null;
  lastNack: { version: string; error: string } | null;
}

export type WaitOutcome =
  | { ok: true; proxies: number; elapsedMs: number }
  | { ok: false; pending: { id: string; reason: string }[]; elapsedMs: number };

/** Which connected proxies do not reflect `revision` yet, and why (null: all do). */
export function pendingProxies(rows: readonly ProxyProgress[], revision: number): { id: string; reason: string; nacked: boolean }[] {
  const out: { id: string; reason: string; nacked: boolean }[] = [];
  for (const p of rows) {
    if (!p.connected) continue;
    if (p.ackedRevision !== null && p.ackedRevision >= revision) continue;
    // it rejected the latest version it was sent, and that version carries this revision or a later one
    const nacked = p.lastNack !== null && (p.sentRevision ?? -1) >= revision && p.lastNack.version === p.sentVersion;
    const reason = nacked
      ? `rejected version ${p.lastNack!.version} (NACK): ${p.lastNack!.error}`
      : `has ACKed revision ${p.ackedRevision ?? 'none'} (sent ${p.sentRevision ?? 'none'})`;
    out.push({ id: p.id, reason, nacked });
  }
  return out;
}

export async function waitForAcks(apiUrl: string, revision: number, timeoutMs: number, pollMs = 50): Promise<WaitOutcome> {
  const start = Date.now();
  for (;;) {
    const rows = await apiRequest<ProxyProgress[]>(apiUrl, 'GET', '/api/v1/proxies');
    const pending = pendingProxies(rows, revision);
    const elapsedMs = Date.now() - start;
    if (pending.length === 0) return { ok: true, proxies: rows.filter((r) => r.connected).length, elapsedMs };
    if (pending.some((p) => p.nacked) || elapsedMs >= timeoutMs) {
      return { ok: false, pending: pending.map(({ id, reason }) => ({ id, reason })), elapsedMs };
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, timeoutMs - elapsedMs))));
  }
}
