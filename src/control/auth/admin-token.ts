// The admin token guards the API's writes. Created on the first start: its sha256 is what the
// control plane checks; the token itself is printed once and left in <data-dir>/admin-token
// (0600) so the local operator, the demo and the tests can read it.
import path from 'node:path';
import { readOptionalFile, writeSecretFile } from './secret-file.js';
import { newSecret, secretMatches, sha256Hex } from './token-secret.js';

export const ADMIN_TOKEN_FILE_NAME = 'admin-token';
const HASH_FILE_NAME = 'admin-token.sha256';

export class AdminToken {
  private constructor(private readonly sha256: string) {}

  /** `created` is the new token on the first start, null afterwards. */
  static async ensure(dataDir: string): Promise<{ admin: AdminToken; created: string | null; file: string }> {
    const hashFile = path.join(dataDir, HASH_FILE_NAME);
    const tokenFile = path.join(dataDir, ADMIN_TOKEN_FILE_NAME);
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
