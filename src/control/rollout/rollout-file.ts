// Rollouts persist in `<dataDir>/rollouts.json`, replaced atomically on every change, so a
// control plane that restarts (or crashes) mid-rollout finds each one where it was. A file and not
// a store resource: the state changes every step and is the controller's own bookkeeping, not
// desired state a user applies; and only the replica that runs the rollout writes it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { RolloutState } from './rollout-state.js';

export const rolloutFileName = 'rollouts.json';

export async function loadRollouts(dataDir: string): Promise<RolloutState[]> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, rolloutFileName), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const parsed = JSON.parse(text) as { rollouts?: unknown };
  if (!Array.isArray(parsed.rollouts)) throw new Error(`${rolloutFileName}: "rollouts" must be a list`);
  return parsed.rollouts as RolloutState[];
}

export async function saveRollouts(dataDir: string, rollouts: readonly RolloutState[]): Promise<void> {
  await writeFileAtomic(path.join(dataDir, rolloutFileName), JSON.stringify({ rollouts }, null, 1) + '\n');
}
