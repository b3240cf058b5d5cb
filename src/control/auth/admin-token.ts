// The admin token guards the API's writes. Created on the first start: its sha256 is what the
// control plane checks; the token itself is printed once and left in <data-dir>/admin-token
// (0600) so the local operator, the demo and the tests can read it.
import path from 'node:path';
import type { EtcdRecords } from '../store/etcd-records.js';
import { readOptionalFile, writeSecretFile } from './secret-file.js';
import { newSecret, secretMatches, sha256Hex } from './token-secret.js';

export const ADMIN_TOKEN_FILE_NAME = 'admin-token';
const HASH_FILE_NAME = 'admin-token.sha256';

/** The admin token's hash as every replica on one etcd shares it (`<prefix>identity/admin/token`). */
export interface SharedAdminHash { sha256: string; createdAt: string }

export class AdminToken {
  private constructor(private readonly sha256: string) {}

  /**
   * `created` is the new token on the first start, null afterwards. With `shared` (an etcd store)
   * the hash lives in etcd: the first replica creates it (checked-and-set) and leaves the token in
   * its own data dir; every other replica adopts the hash, so one token works on all of them.
   */
  static async ensure(dataDir: string, shared?: EtcdRecords<SharedAdminHash>): Promise<{ admin: AdminToken; created: string | null; file: string }> {
    const hashFile = path.join(dataDir, HASH_FILE_NAME);
    const tokenFile = path.join(dataDir, ADMIN_TOKEN_FILE_NAME);
    if (shared) {
      const existing = await shared.fresh('token');
      if (existing) return { admin: new AdminToken(existing.sha256), created: null, file: tokenFile };
      const token = `trellis-admin.${newSecret()}`;
      if (await shared.create('token', { sha256: sha256Hex(token), createdAt: new Date().toISOString() })) {
        await writeSecretFile(tokenFile, token + '\n');
        return { admin: new AdminToken(sha256Hex(token)), created: token, file: tokenFile };
      }
      const winner = await shared.fresh('token');
      if (!winner) throw new Error('the admin token hash in etcd was created by another replica and then deleted; restart to adopt or create one');
      return { admin: new AdminToken(winner.sha256), created: null, file: tokenFile };
    }
    const stored = (await readOptionalFile(hashFile))?.trim();
    if (stored) {
      if (!/^[0-9a-f]{64}$/.test(stored)) throw new Error(`${hashFile} is corrupt (expected a sha256 in hex); delete it and ${tokenFile} to create a new admin token`);
      return { admin: new AdminToken(stored), created: null, file: tokenFile };
    }
    const token = `trellis-admin.${newSecret()}`;
    // the readable copy first: if we crash before the hash exists, the next start makes a new pair
    await writeSecretFile(tokenFile, token + '\n');
    await writeSecretFile(hashFile, sha256Hex(token) + '\n');
    return { admin: new AdminToken(sha256Hex(token)), created: token, file: tokenFile };
  }

  matches(token: string): boolean {
    return secretMatches(token, this.sha256);
  }
}
