import { randomBytes } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `data` so that a crash at any instant leaves either the old or the new
 * content: the bytes reach the disk under a temporary name before the rename makes them visible,
 * and the directory is synced so the rename itself survives a power cut.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const mode = opts.mode ?? 0o644;
  // a fresh name created exclusively with the final mode: a secret (0600) is never briefly readable
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // the umask can only narrow the mode; be explicit in case it did
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
