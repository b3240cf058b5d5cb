import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';

/**
 * Writes a file readable by its owner only (0600), atomically: the bytes reach the disk under a
 * temporary name created 0600 (so the secret is never briefly world-readable) before the rename.
 */
export async function writeSecretFile(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, data, { mode: 0o600 });
}

/** The file's text, or undefined when it does not exist. */
export async function readOptionalFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
