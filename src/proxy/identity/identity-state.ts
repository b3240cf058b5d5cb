// The sidecar's certificate and key in its state dir (0600), so a restart within the
// certificate's life does not need the join token again.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';

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
  await writeFileAtomic(file, JSON.stringify(identity) + '\n', { mode: 0o600 });
}
