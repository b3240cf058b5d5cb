import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { BenchChild, BenchChildren } from './bench-children.js';
import { expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import { upstreamBodyBytes } from './bench-addresses.js';

const startTimeoutMs = 10_000;

/** The `user` line for nginx: only when the master runs as root, and then as root itself. */
export function nginxRunAsUser(): string | null {
  return process.getuid?.() === 0 ? userInfo().username : null;
}

/** Waits until a server answers as it should: null, or the last problem (`abort` ends the wait early). */
export type ReadyProbe = (abort: () => string | null) => Promise<string | null>;

/**
 * Starts a private nginx (own prefix, config, pid and log files) in the foreground and waits
 * until `probe` (a URL: an HTTP/1.1 GET) answers with the upstream's body. Returns the child or why it failed.
 */
export async function startNginx(
  children: BenchChildren, nginxPath: string, name: string, prefix: string, config: string,
  cpus: string | null, probe: string | ReadyProbe,
): Promise<BenchChild | Error> {
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, config);
  // -e overrides the compiled-in error log, which nginx opens before reading the config.
  const child = children.spawn(name, nginxPath, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'], { cpus, output: 'log' });
  const abort = (): string | null => (child.isRunning() ? null : `${name} exited: ${child.logTail(5)}`);
  const problem = typeof probe === 'string'
    ? await pollHttp(probe, null, startTimeoutMs, expectUpstreamBody(upstreamBodyBytes), abort)
    : await probe(abort);
  if (problem !== null) {
    await children.stop(child);
    return new Error(problem);
  }
  return child;
}
