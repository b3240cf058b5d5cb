// `trellis token create|list|revoke`: join tokens with which sidecars obtain their first certificate.
import { apiRequest } from './api-client.js';
import { age, printJson, printTable, type OutputFormat } from './output.js';

interface JoinToken { id: string; service: string; namespace: string; createdAt: string; expiresAt: string; revokedAt: string | null; token?: string }

export async function tokenCreateCommand(apiUrl: string, opts: { service: string; namespace: string; ttlMs: number; output: OutputFormat }): Promise<number> {
  const created = await apiRequest<JoinToken>(apiUrl, 'POST', '/api/v1/tokens', JSON.stringify({ service: opts.service, namespace: opts.namespace, ttlMs: opts.ttlMs }), { 'content-type': 'application/json' });
  if (opts.output === 'json') {
    printJson(created);
    return 0;
  }
  // the token alone on stdout, so `TOKEN=$(trellis token create ...)` works; the rest is for people
  process.stdout.write(`${created.token}\n`);
  process.stderr.write(`join token ${created.id} for service ${created.service} (namespace ${created.namespace}), expires ${created.expiresAt}; it is shown only once.\n`);
  return 0;
}

export async function tokenListCommand(apiUrl: string, output: OutputFormat): Promise<number> {
  const tokens = await apiRequest<JoinToken[]>(apiUrl, 'GET', '/api/v1/tokens');
  if (output === 'json') {
    printJson(tokens);
    return 0;
  }
  const now = Date.now();
  printTable(tokens, [
    ['ID', (t) => t.id],
    ['SERVICE', (t) => t.service],
    ['NAMESPACE', (t) => t.namespace],
    ['STATE', (t) => (t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now ? 'expired' : 'valid')],
    ['AGE', (t) => age(t.createdAt, now)],
    ['EXPIRES', (t) => t.expiresAt],
  ], 'No join tokens.');
  return 0;
}

export async function tokenRevokeCommand(apiUrl: string, id: string): Promise<number> {
  try {
    await apiRequest(apiUrl, 'DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  } catch (err) {
    if ((err as { status?: number }).status === 404) {
      process.stderr.write(`error: no join token with id ${id}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`join token ${id} revoked\n`);
  return 0;
}
