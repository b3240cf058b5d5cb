import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export type ToolName = 'wrk' | 'nginx' | 'haproxy' | 'h2load';

/** The Debian package of a tool whose name differs from it. */
const aptPackage: Partial<Record<ToolName, string>> = { h2load: 'nghttp2-client' };

/** Path of an installed tool, or why it is unavailable. */
export type ToolLookup = { readonly path: string } | { readonly missing: string };

// nginx and haproxy live in sbin, which a non-root PATH often lacks.
const extraDirs = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const aptTimeoutMs = 240_000;

export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.length > 0), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * Finds the tools, installing missing ones with apt-get (one `apt-get update` and a retry if the
 * first install fails, e.g. on stale package lists). Logs what it does on stderr.
 */
export function ensureTools(names: readonly ToolName[], say: (line: string) => void): Map<ToolName, ToolLookup> {
  const found = new Map<ToolName, ToolLookup>();
  const missing: ToolName[] = [];
  for (const name of names) {
    const path = findExecutable(name);
    if (path !== null) found.set(name, { path });
    else missing.push(name);
  }
  if (missing.length === 0) return found;
  let installError = 'apt-get not found';
  if (findExecutable('apt-get') !== null) {
    say(`installing ${missing.join(', ')} with apt-get...`);
    installError = aptInstall(missing);
    if (installError !== '' && missing.some((m) => findExecutable(m) === null)) {
      say('apt-get install failed; running apt-get update and retrying...');
      const update = runApt(['update']);
      installError = update !== '' ? `apt-get update: ${update}` : aptInstall(missing.filter((m) => findExecutable(m) === null));
    }
  }
  for (const name of missing) {
    const path = findExecutable(name);
    found.set(name, path !== null ? { path } : { missing: `${name} is not installed and could not be installed (${installError || 'unknown reason'})` });
  }
  return found;
}

function aptInstall(tools: readonly ToolName[]): string {
  return runApt(['install', '-y', '--no-install-recommends', ...tools.map((t) => aptPackage[t] ?? t)]);
}

/** Runs apt-get; '' on success, else a one-line reason. */
function runApt(args: readonly string[]): string {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8', timeout: aptTimeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error !== undefined) return result.error.message;
  if (result.status === 0) return '';
  const lines = `${result.stderr}`.trim().split('\n');
  return `exit ${result.status}: ${lines[lines.length - 1] ?? ''}`;
}

/** First line of `tool -v`-style output, for the report. */
export function toolVersion(path: string, args: readonly string[]): string {
  const result = spawnSync(path, args, { encoding: 'utf8', timeout: 5000 });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return text.split('\n')[0] ?? '';
}
