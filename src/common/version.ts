import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The version in the project's package.json, found by walking up from this module (it runs from src/ or dist/src/). */
export function trellisVersion(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  cached = '0.0.0';
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'trellis' && pkg.version) {
        cached = pkg.version;
        break;
      }
    }
    dir = path.dirname(dir);
  }
  return cached;
}
