import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { dir: string; version: string } | null | undefined;

/**
 * The directory of trellis's package.json, found by walking up from this module, wherever the
 * build put it (src/, dist/src/, or a chunk of the bundled CLI); null outside the package.
 */
function findPackage(): { dir: string; version: string } | null {
  if (cached !== undefined) return cached;
  cached = null;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'trellis') {
        cached = { dir, version: pkg.version ?? '0.0.0' };
        break;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return cached;
}

/** A file of the built package, e.g. packagePath('dist', 'dashboard'); throws outside the package. */
export function packagePath(...segments: string[]): string {
  const pkg = findPackage();
  if (pkg === null) throw new Error(`cannot find trellis's package.json above ${fileURLToPath(import.meta.url)}`);
  return path.join(pkg.dir, ...segments);
}

/** The version in the project's package.json ('0.0.0' if it cannot be found). */
export function packageVersion(): string {
  return findPackage()?.version ?? '0.0.0';
}
