import { apiRequest } from './api-client.js';
import { printJson, type OutputFormat } from './output.js';

interface Check { name: string; ok: boolean; detail: string }

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
    checks.push({ name: 'no-rejected-config', ok: nacked.length === 0, detail: nacked.length ? nacked.map((p) => `${p.id} rejected v${p.lastNack.version}: ${p.lastNack.error}`).join('; ') : 'no proxy rejected its config' });
  }
  if (output === 'json') printJson(checks);
  else for (const c of checks) process.stdout.write(`${c.ok ? '√' : '×'} ${c.name}: ${c.detail}\n`);
  return checks.every((c) => c.ok) ? 0 : 1;
}
