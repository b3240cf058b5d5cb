import { apiRequest } from './api-client.js';
import { printJson, type OutputFormat } from './output.js';

interface Check { name: string; ok: boolean; detail: string; warning?: boolean }

/** Is the control plane healthy, and is every proxy connected and in sync? Exit 1 when not. */
export async function checkCommand(apiUrl: string, output: OutputFormat): Promise<number> {
  const checks: Check[] = [];
  try {
    const h = await apiRequest<{ status: string; version: string }>(apiUrl, 'GET', '/api/v1/health');
    checks.push({ name: 'control-plane', ok: h.status === 'ok', detail: `${apiUrl} ${h.status}, version ${h.version}` });
  } catch (err) {
    checks.push({ name: 'control-plane', ok: false, detail: (err as Error).message });
  }
  if (checks[0].ok) {
    const proxies = await apiRequest<Record<string, any>[]>(apiUrl, 'GET', '/api/v1/proxies');
    const disconnected = proxies.filter((p) => !p.connected);
    checks.push({ name: 'proxies-connected', ok: disconnected.length === 0, detail: `${proxies.length - disconnected.length}/${proxies.length} connected${disconnected.length ? `; not: ${disconnected.map((p) => p.id).join(', ')}` : ''}` });
    const behind = proxies.filter((p) => p.connected && p.ackedVersion !== p.sentVersion);
    checks.push({ name: 'proxies-in-sync', ok: behind.length === 0, detail: behind.length ? `not yet acked: ${behind.map((p) => `${p.id} (acked ${p.ackedVersion ?? 'none'}, sent ${p.sentVersion})`).join(', ')}` : 'every connected proxy acked its latest config' });
    const nacked = proxies.filter((p) => p.lastNack);
    checks.push(certificateCheck(proxies.filter((p) => p.connected), Date.now()));
    checks.push({ name: 'no-rejected-config', ok: nacked.length === 0, detail: nacked.length ? nacked.map((p) => `${p.id} rejected v${p.lastNack.version}: ${p.lastNack.error}`).join('; ') : 'no proxy rejected its config' });
  }
  if (output === 'json') printJson(checks);
  else for (const c of checks) process.stdout.write(`${!c.ok ? '×' : c.warning ? '!' : '√'} ${c.name}: ${c.detail}\n`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

/** Fails for an expired certificate; warns when less than a third of one's life is left (it should have renewed). */
export function certificateCheck(proxies: Record<string, any>[], now: number): Check {
  const withCert = proxies.filter((p) => typeof p.certExpiry === 'string');
  const expired: string[] = [];
  const close: string[] = [];
  for (const p of withCert) {
    const expiry = Date.parse(p.certExpiry);
    const issued = typeof p.certIssuedAt === 'string' ? Date.parse(p.certIssuedAt) : NaN;
    if (expiry <= now) expired.push(`${p.id} (expired ${p.certExpiry})`);
    else if (Number.isFinite(issued) && expiry - now < (expiry - issued) / 3) close.push(`${p.id} (expires ${p.certExpiry})`);
  }
  const without = proxies.length - withCert.length;
  const tail = without ? `; ${without} without identity` : '';
  if (expired.length) return { name: 'certificates', ok: false, detail: `expired: ${expired.join(', ')}${close.length ? `; close to expiry: ${close.join(', ')}` : ''}` };
  if (close.length) return { name: 'certificates', ok: true, warning: true, detail: `close to expiry (renewal overdue): ${close.join(', ')}${tail}` };
  return { name: 'certificates', ok: true, detail: `${withCert.length} valid${tail}` };
}
