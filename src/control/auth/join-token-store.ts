// Join tokens: what a sidecar presents to obtain its first certificate. Each is bound to one
// service in one namespace, expires, can be revoked, and is stored only as a sha256 of its secret.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { Etcd3 } from 'etcd3';
import { newSecret, secretMatches, sha256Hex } from './token-secret.js';
import { openEtcdTokenRecords, openFileTokenRecords, type TokenRecords } from './token-records.js';

export const JOIN_TOKENS_FILE_NAME = 'join-tokens.json';
const FORMAT = 'trellis-join-tokens/1';
const PREFIX = 'trellis-join';

export interface JoinToken {
  id: string;
  service: string;
  namespace: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

interface StoredJoinToken extends JoinToken { secretSha256: string }

export type JoinTokenFailure = 'malformed' | 'unknown' | 'revoked' | 'expired';
export type JoinTokenCheck = { ok: true; token: JoinToken } | { ok: false; reason: JoinTokenFailure; message: string };

export class JoinTokenStore {
  private constructor(private readonly backend: TokenRecords<StoredJoinToken>, private readonly now: () => number) {}

  static async open(dataDir: string, now: () => number = Date.now): Promise<JoinTokenStore> {
    const backend = await openFileTokenRecords(path.join(dataDir, JOIN_TOKENS_FILE_NAME), { format: FORMAT, what: 'join token', parse: parseStored });
    return new JoinTokenStore(backend, now);
  }

  /** Tokens shared by every control-plane replica on one etcd: created on one, valid (and revoked) on all. */
  static async openEtcd(opts: { client: Etcd3; prefix: string; logger: Logger }, now: () => number = Date.now): Promise<JoinTokenStore> {
    return new JoinTokenStore(await openEtcdTokenRecords(opts, 'identity/join-tokens', parseStored), now);
  }

  /** The secret is returned here only: what is stored cannot give it back. */
  async create(opts: { service: string; namespace: string; ttlMs: number }): Promise<{ token: string; info: JoinToken }> {
    const secret = newSecret();
    const now = this.now();
    for (;;) {
      const id = randomBytes(6).toString('hex');
      const stored: StoredJoinToken = {
        id, service: opts.service, namespace: opts.namespace,
        createdAt: new Date(now).toISOString(), expiresAt: new Date(now + opts.ttlMs).toISOString(), revokedAt: null,
        secretSha256: sha256Hex(secret),
      };
      // an id taken (here or by another replica at the same moment) draws another
      if (await this.backend.create(stored)) return { token: `${PREFIX}.${id}.${secret}`, info: view(stored) };
    }
  }

  list(): JoinToken[] {
    return this.backend.all().map(view).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): JoinToken | undefined {
    const t = this.backend.get(id);
    return t ? view(t) : undefined;
  }

  /** Like get, but as stored now: a revocation made a moment ago on another replica counts. */
  async lookup(id: string): Promise<JoinToken | undefined> {
    const t = await this.backend.fresh(id);
    return t ? view(t) : undefined;
  }

  /** Marks the token revoked (kept, so certificates it obtained can be refused renewal); false when unknown. */
  async revoke(id: string): Promise<JoinToken | undefined> {
    const t = await this.backend.fresh(id);
    if (!t) return undefined;
    if (!t.revokedAt) {
      const revoked = { ...t, revokedAt: new Date(this.now()).toISOString() };
      await this.backend.update(revoked);
      return view(revoked);
    }
    return view(t);
  }

  /** Checks a presented token against the stored copy as of now (see lookup). */
  async check(token: string): Promise<JoinTokenCheck> {
    const m = tokenPattern.exec(token.trim());
    if (m) await this.backend.fresh(m[1]);
    return this.authenticate(token);
  }

  /** Checks a presented token against the copy this replica holds. */
  authenticate(token: string): JoinTokenCheck {
    const m = tokenPattern.exec(token.trim());
    if (!m) return { ok: false, reason: 'malformed', message: 'the join token is malformed (expected trellis-join.<id>.<secret>, as `trellis token create` prints)' };
    const stored = this.backend.get(m[1]);
    if (!stored || !secretMatches(m[2], stored.secretSha256)) return { ok: false, reason: 'unknown', message: 'the join token is not valid' };
    if (stored.revokedAt) return { ok: false, reason: 'revoked', message: `join token ${stored.id} was revoked at ${stored.revokedAt}` };
    if (Date.parse(stored.expiresAt) <= this.now()) return { ok: false, reason: 'expired', message: `join token ${stored.id} expired at ${stored.expiresAt}` };
    return { ok: true, token: view(stored) };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

const tokenPattern = /^trellis-join\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,})$/;

function parseStored(raw: unknown): StoredJoinToken | undefined {
  const t = raw as StoredJoinToken | null;
  if (!t || typeof t.id !== 'string' || typeof t.service !== 'string' || typeof t.namespace !== 'string' || typeof t.secretSha256 !== 'string'
    || typeof t.expiresAt !== 'string' || typeof t.createdAt !== 'string' || (t.revokedAt !== null && typeof t.revokedAt !== 'string')) return undefined;
  return t;
}

function view(t: StoredJoinToken): JoinToken {
  return { id: t.id, service: t.service, namespace: t.namespace, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt };
}
