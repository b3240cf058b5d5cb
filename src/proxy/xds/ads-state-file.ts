// The accepted xDS resources on disk (<stateDir>/xds-config.json), so a sidecar restarted while
// the control plane is down serves its last config (shared/DESIGN.md §1). Protobuf bytes are kept
// rather than the decoded shapes so the saved config goes back through the same decoders.
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { decoded, refused, type DecodeResult } from './xds-decode-result.js';

export const stateFileName = 'xds-config.json';
const format = 'trellis-xds-state/1';

export interface SavedTypeState {
  version: string;
  /** base64 of each resource's protobuf bytes */
  resources: string[];
}

export interface SavedXdsState {
  version: string;
  savedAt: string;
  types: Record<string, SavedTypeState>;
}

/** Writes atomically (temp file, fsync, rename): a crash leaves the old file or the new one, never half of one. */
export async function saveXdsState(dir: string, state: SavedXdsState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, stateFileName);
  const temp = `${target}.${process.pid}.tmp`;
  const fh = await open(temp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify({ format, ...state }));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, target);
  // The rename itself must reach the disk for the new file to survive a power loss.
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  } finally {
    await dh.close();
  }
}

/** Reads the saved state: undefined when there is none, an error when it is unreadable or malformed. */
export function loadXdsState(dir: string): DecodeResult<SavedXdsState | undefined> {
  const file = path.join(dir, stateFileName);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return decoded(undefined);
    return refused(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: any;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return refused(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || json.format !== format) return refused(`${file}: unknown format ${JSON.stringify(json?.format)}`);
  if (typeof json.version !== 'string' || typeof json.types !== 'object' || json.types === null) return refused(`${file}: version and types are required`);
  const types: Record<string, SavedTypeState> = {};
  for (const [url, t] of Object.entries(json.types as Record<string, any>)) {
    if (!t || typeof t.version !== 'string' || !Array.isArray(t.resources) || !t.resources.every((r: unknown) => typeof r === 'string')) {
      return refused(`${file}: types["${url}"] needs a version and base64 resources`);
    }
    types[url] = { version: t.version, resources: t.resources };
  }
  return decoded({ version: json.version, savedAt: String(json.savedAt ?? ''), types });
}

/** Creates the directory early so a bad --state-dir fails at start-up, not at the first save. */
export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
