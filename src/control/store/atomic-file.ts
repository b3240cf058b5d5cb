import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `data` so that a crash at any instant leaves either the old or the new
 * content: the bytes reach the disk under a temporary name before the rename makes them visible,
 * and the directory is synced so the rename itself survives a power cut.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
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
