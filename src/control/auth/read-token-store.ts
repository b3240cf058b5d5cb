// API read tokens: bearer tokens that may read the API (the live tap included) and never write.
// Made by the admin (`trellis token create --read`), they expire, can be revoked, and are stored
// only as a sha256 of their secret: in <data-dir>/read-tokens.json (0600), or with an etcd store
// under `<prefix>identity/read-tokens/`, so every replica accepts and refuses the same tokens.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/log.js';
import { newSecret, secretMatches, sha256Hex } from './token-secret.js';
import { openEtcdTokenRecords, openFileTokenRecords, type TokenRecords } from './token-records.js';

export const READ_TOKENS_FILE_NAME = 'read-tokens.json';
const FORMAT = 'trellis-read-tokens/1';
const PREFIX = 'trellis-read';

export interface ReadToken {
  id: string;
  /** What the operator called it (who or what uses it); may be empty. */
  name: string;
  scope: 'read';
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

interface StoredReadToken extends ReadToken { secretSha256: string }

export type ReadTokenFailure = 'malformed' | 'unknown' | 'revoked' | 'expired';
export type ReadTokenCheck = { ok: true; token: ReadToken } | { ok: false; reason: ReadTokenFailure; message: string };

const tokenPattern = /^trellis-read\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,})$/;

export class ReadTokenStore {
  private constructor(private readonly backend: TokenRecords<StoredReadToken>, private readonly now: () => number) {}

  static async open(dataDir: string, now: () => number = Date.now): Promise<ReadTokenStore> {
    const backend = await openFileTokenRecords(path.join(dataDir, READ_TOKENS_FILE_NAME), { format: FORMAT, what: 'read token', parse: parseStored });
    return new ReadTokenStore(backend, now);
  }

  /** Tokens shared by every control-plane replica on one etcd. */
  static async openEtcd(opts: { client: Etcd3; prefix: string; logger: Logger }, now: () => number = Date.now): Promise<ReadTokenStore> {
    return new ReadTokenStore(await openEtcdTokenRecords(opts, 'identity/read-tokens', parseStored), now);
  }

  /** Whether a presented bearer token has the shape of a read token (so a mismatch can say which kind failed). */
  static looksLikeReadToken(token: string): boolean {
    return token.startsWith(`${PREFIX}.`);
  }

  /** The secret is returned here only: what is stored cannot give it back. */
  async create(opts: { name: string; ttlMs: number }): Promise<{ token: string; info: ReadToken }> {
    const secret = newSecret();
    const now = this.now();
    for (;;) {
      const id = randomBytes(6).toString('hex');
      const stored: StoredReadToken = {
        id, name: opts.name, scope: 'read',
        createdAt: new Date(now).toISOString(), expiresAt: new Date(now + opts.ttlMs).toISOString(), revokedAt: null,
        secretSha256: sha256Hex(secret),
      };
      // an id taken (here or by another replica at the same moment) draws another
      if (await this.backend.create(stored)) return { token: `${PREFIX}.${id}.${secret}`, info: view(stored) };
    }
  }

  list(): ReadToken[] {
    return this.backend.all().map(view).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Marks the token revoked (kept, so its refusals can say so); undefined when unknown. */
  async revoke(id: string): Promise<ReadToken | undefined> {
    const t = await this.backend.fresh(id);
    if (!t) return undefined;
    if (t.revokedAt) return view(t);
    const revoked = { ...t, revokedAt: new Date(this.now()).toISOString() };
    await this.backend.update(revoked);
    return view(revoked);
  }

  /** Checks a presented token against the stored copy as of now: a revocation made a moment ago on another replica counts. */
  async check(token: string): Promise<ReadTokenCheck> {
    const m = tokenPattern.exec(token.trim());
    if (!m) return { ok: false, reason: 'malformed', message: 'the read token is malformed (expected trellis-read.<id>.<secret>, as `trellis token create --read` prints)' };
    const stored = await this.backend.fresh(m[1]);
    if (!stored || !secretMatches(m[2], stored.secretSha256)) return { ok: false, reason: 'unknown', message: 'the bearer token is neither the admin token nor a valid read token of this control plane' };
    if (stored.revokedAt) return { ok: false, reason: 'revoked', message: `read token ${stored.id} was revoked at ${stored.revokedAt}` };
    if (Date.parse(stored.expiresAt) <= this.now()) return { ok: false, reason: 'expired', message: `read token ${stored.id} expired at ${stored.expiresAt}` };
    return { ok: true, token: view(stored) };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

function parseStored(raw: unknown): StoredReadToken | undefined {
  const t = raw as StoredReadToken | null;
  if (!t || typeof t.id !== 'string' || typeof t.name !== 'string' || t.scope !== 'read' || typeof t.secretSha256 !== 'string'
    || typeof t.expiresAt !== 'string' || typeof t.createdAt !== 'string' || (t.revokedAt !== null && typeof t.revokedAt !== 'string')) return undefined;
  return t;
}

function view(t: StoredReadToken): ReadToken {
  return { id: t.id, name: t.name, scope: t.scope, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt };
}
