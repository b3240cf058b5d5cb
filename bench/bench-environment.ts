import { spawnSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import type { ToolLookup, ToolName } from './bench-tools.js';
import { toolVersion } from './bench-tools.js';

/** What the numbers depend on, recorded with them. */
export interface BenchEnvironment {
  readonly node: string;
  readonly kernel: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly tools: readonly string[];
  readonly commit: string;
}

const versionArgs: Record<ToolName, string[]> = { wrk: ['--version'], nginx: ['-v'], haproxy: ['-v'], h2load: ['--version'] };

export function describeEnvironment(tools: ReadonlyMap<ToolName, ToolLookup>, repoRoot: string): BenchEnvironment {
  const list = cpus();
  const versions: string[] = [];
  for (const [name, lookup] of tools) {
    versions.push('path' in lookup ? cleanVersion(toolVersion(lookup.path, versionArgs[name])) : `${name} missing`);
  }
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', timeout: 5000 });
  return {
    node: process.version,
    kernel: release(),
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpuCount: list.length,
    tools: versions,
    commit: git.status === 0 ? git.stdout.trim() : 'unknown',
  };
}

/** "wrk debian/4.1.0-3+b2 [epoll] Copyright..." → "wrk debian/4.1.0-3+b2". */
function cleanVersion(line: string): string {
  return line.replace(/\s+\[.*$/, '').replace(/ - https?:.*$/, '').trim();
}
