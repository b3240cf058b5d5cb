// The sidecar's certificate and key in its state dir (0600), so a restart within the
// certificate's life does not need the join token again.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const IDENTITY_FILE_NAME = 'identity.json';

export interface SavedIdentity { certificatePem: string; chainPems: string[]; trustBundlePems: string[]; keyPem: string }

export async function loadIdentity(stateDir: string): Promise<SavedIdentity | null> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, IDENTITY_FILE_NAME), 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<SavedIdentity>;
    if (typeof v.certificatePem !== 'string' || typeof v.keyPem !== 'string' || !Array.isArray(v.chainPems) || !Array.isArray(v.trustBundlePems)) return null;
    return v as SavedIdentity;
  } catch {
    return null;
  }
}

export async function saveIdentity(stateDir: string, identity: SavedIdentity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, IDENTITY_FILE_NAME);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(identity) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
