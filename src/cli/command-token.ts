// `trellis token create|list|revoke`: join tokens, with which sidecars obtain their first
// certificate, and API read tokens (`--read`), which may read the API and tap but never write.
import { ApiError, apiRequest } from './api-client.js';
import { age, printJson, printTable, type OutputFormat } from './output.js';

interface JoinToken { id: string; service: string; namespace: string; createdAt: string; expiresAt: string; revokedAt: string | null; token?: string }
interface ReadToken { id: string; name: string; scope: 'read'; createdAt: string; expiresAt: string; revokedAt: string | null; token?: string }

export type TokenKind = 'join' | 'read';
type TokenRow = (JoinToken & { kind: 'join' }) | (ReadToken & { kind: 'read' });

export const defaultJoinTtlMs = 24 * 3_600_000;
export const defaultReadTtlMs = 30 * 24 * 3_600_000;
const minReadTtlMs = 60_000;
const maxReadTtlMs = 365 * 24 * 3_600_000;

export interface TokenCreateFlags {
  service?: string;
  namespace: string;
  read: boolean;
  name?: string;
  /** undefined: the kind's default (24h for a join token, 30d for a read token). */
  ttlMs?: number;
  output: OutputFormat;
}

/** What the flags ask for, or an error naming the flag. */
export function tokenCreateRequest(f: TokenCreateFlags): { kind: TokenKind; path: string; body: Record<string, unknown> } {
  if (f.read) {
    if (f.service !== undefined) throw new Error('--service and --read do not go together: --service makes a join token for a sidecar, --read an API read token');
    const ttlMs = f.ttlMs ?? defaultReadTtlMs;
    if (ttlMs < minReadTtlMs || ttlMs > maxReadTtlMs) throw new Error(`--ttl must be between 1m and 365d for a read token, got ${ttlMs} ms`);
    return { kind: 'read', path: '/api/v1/read-tokens', body: { name: f.name ?? '', ttlMs } };
  }
  if (f.service === undefined) throw new Error('give --service NAME (a join token for that service\'s sidecars) or --read (an API read token)');
  if (f.name !== undefined) throw new Error('--name is for read tokens (--read); a join token is named by its --service');
  return { kind: 'join', path: '/api/v1/tokens', body: { service: f.service, namespace: f.namespace, ttlMs: f.ttlMs ?? defaultJoinTtlMs } };
}

export async function tokenCreateCommand(apiUrl: string, flags: TokenCreateFlags): Promise<number> {
  const req = tokenCreateRequest(flags);
  const created = await apiRequest<JoinToken | ReadToken>(apiUrl, 'POST', req.path, JSON.stringify(req.body), { 'content-type': 'application/json' });
  if (flags.output === 'json') {
    printJson({ kind: req.kind, ...created });
    return 0;
  }
  // the token alone on stdout, so `TOKEN=$(trellis token create ...)` works; the rest is for people
  process.stdout.write(`${created.token}\n`);
  if (req.kind === 'read') {
    const r = created as ReadToken;
    process.stderr.write(`read token ${r.id}${r.name ? ` (${r.name})` : ''}: reads the API and taps, never writes; expires ${r.expiresAt}; it is shown only once.\n`);
  } else {
    const j = created as JoinToken;
    process.stderr.write(`join token ${j.id} for service ${j.service} (namespace ${j.namespace}), expires ${j.expiresAt}; it is shown only once.\n`);
  }
  return 0;
}

export async function tokenListCommand(apiUrl: string, output: OutputFormat, kind?: TokenKind): Promise<number> {
  const [join, read] = await Promise.all([
    kind === 'read' ? [] : apiRequest<JoinToken[]>(apiUrl, 'GET', '/api/v1/tokens'),
    kind === 'join' ? [] : apiRequest<ReadToken[]>(apiUrl, 'GET', '/api/v1/read-tokens'),
  ]);
  const rows: TokenRow[] = [
    ...join.map((t) => ({ kind: 'join' as const, ...t })),
    ...read.map((t) => ({ kind: 'read' as const, ...t })),
  ].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  if (output === 'json') {
    printJson(rows);
    return 0;
  }
  const now = Date.now();
  printTable(rows, [
    ['ID', (t) => t.id],
    ['KIND', (t) => t.kind],
    ['FOR', (t) => (t.kind === 'join' ? `${t.service}.${t.namespace}` : t.name ? `read: ${t.name}` : 'read')],
    ['STATE', (t) => (t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now ? 'expired' : 'valid')],
    ['AGE', (t) => age(t.createdAt, now)],
    ['EXPIRES', (t) => t.expiresAt],
  ], 'No tokens.');
  return 0;
}

/** Revokes a join token or a read token by id (ids are drawn per kind; a join token is tried first). */
export async function tokenRevokeCommand(apiUrl: string, id: string, output: OutputFormat = 'table'): Promise<number> {
  for (const kind of ['join', 'read'] as const) {
    let answer: { revoked: JoinToken | ReadToken };
    try {
      answer = await apiRequest(apiUrl, 'DELETE', `${kind === 'join' ? '/api/v1/tokens' : '/api/v1/read-tokens'}/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) continue;
      throw err;
    }
    if (output === 'json') printJson({ kind, ...answer.revoked });
    else process.stdout.write(`${kind} token ${id} revoked\n`);
    return 0;
  }
  process.stderr.write(`error: no join or read token with id ${id} (trellis token list shows them)\n`);
  return 1;
}
