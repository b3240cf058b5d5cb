// Join tokens: what a sidecar presents to obtain its first certificate. Each is bound to one
// service in one namespace, expires, can be revoked, and is stored only as a sha256 of its secret.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readOptionalFile, writeSecretFile } from './secret-file.js';
import { newSecret, secretMatches, sha256Hex } from './token-secret.js';

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
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string, private readonly tokens: Map<string, StoredJoinToken>, private readonly now: () => number) {}

  static async open(dataDir: string, now: () => number = Date.now): Promise<JoinTokenStore> {
    const file = path.join(dataDir, JOIN_TOKENS_FILE_NAME);
    const text = await readOptionalFile(file);
    const tokens = new Map<string, StoredJoinToken>();
    if (text !== undefined) {
      let parsed: { format?: string; tokens?: StoredJoinToken[] };
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new Error(`the join token file ${file} is corrupt (${(err as Error).message}); delete it to revoke every join token`);
      }
      if (parsed.format !== FORMAT || !Array.isArray(parsed.tokens)) throw new Error(`the join token file ${file} is corrupt (expected format ${FORMAT}); delete it to revoke every join token`);
      for (const t of parsed.tokens) tokens.set(t.id, t);
    }
    return new JoinTokenStore(file, tokens, now);
  }

  /** The secret is returned here only: what is stored cannot give it back. */
  async create(opts: { service: string; namespace: string; ttlMs: number }): Promise<{ token: string; info: JoinToken }> {
    let id: string;
    do id = randomBytes(6).toString('hex'); while (this.tokens.has(id));
    const secret = newSecret();
    const now = this.now();
    const stored: StoredJoinToken = {
      id, service: opts.service, namespace: opts.namespace,
      createdAt: new Date(now).toISOString(), expiresAt: new Date(now + opts.ttlMs).toISOString(), revokedAt: null,
      secretSha256: sha256Hex(secret),
    };
    this.tokens.set(id, stored);
    await this.save();
    return { token: `${PREFIX}.${id}.${secret}`, info: view(stored) };
  }

  list(): JoinToken[] {
    return [...this.tokens.values()].map(view).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  get(id: string): JoinToken | undefined {
    const t = this.tokens.get(id);
    return t ? view(t) : undefined;
  }

  /** Marks the token revoked (kept, so certificates it obtained can be refused renewal); false when unknown. */
  async revoke(id: string): Promise<JoinToken | undefined> {
    const t = this.tokens.get(id);
    if (!t) return undefined;
    if (!t.revokedAt) {
      t.revokedAt = new Date(this.now()).toISOString();
      await this.save();
    }
    return view(t);
  }

  authenticate(token: string): JoinTokenCheck {
    const m = /^trellis-join\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,})$/.exec(token.trim());
    if (!m) return { ok: false, reason: 'malformed', message: 'the join token is malformed (expected trellis-join.<id>.<secret>, as `trellis token create` prints)' };
    const stored = this.tokens.get(m[1]);
    if (!stored || !secretMatches(m[2], stored.secretSha256)) return { ok: false, reason: 'unknown', message: 'the join token is not valid' };
    if (stored.revokedAt) return { ok: false, reason: 'revoked', message: `join token ${stored.id} was revoked at ${stored.revokedAt}` };
    if (Date.parse(stored.expiresAt) <= this.now()) return { ok: false, reason: 'expired', message: `join token ${stored.id} expired at ${stored.expiresAt}` };
    return { ok: true, token: view(stored) };
  }

  private save(): Promise<void> {
    const text = JSON.stringify({ format: FORMAT, tokens: [...this.tokens.values()] }, null, 2) + '\n';
    // one write at a time, in order, so an older state never lands last; a failed write does not block the next
    this.saving = this.saving.catch(() => undefined).then(() => writeSecretFile(this.file, text));
    return this.saving;
  }
}

function view(t: StoredJoinToken): JoinToken {
  return { id: t.id, service: t.service, namespace: t.namespace, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt };
}
