import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchChildren } from '../../bench/bench-children.js';
import { readProcStat, withDescendants } from '../../bench/bench-proc.js';

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

test('stop ends the whole process group, including a grandchild that ignores SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-children-'));
  const children = new BenchChildren(dir);
  try {
    // The background sh traps TERM, so only the SIGKILL after the grace period ends it.
    const child = children.spawn('tree', 'sh', ['-c', "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done' & wait"], { cpus: null, output: 'log' });
    assert.ok(await until(() => withDescendants([child.pid]).length >= 3, 5000), 'tree started');
    const tree = withDescendants([child.pid]);
    await children.stop(child);
    assert.equal(child.isRunning(), false);
    assert.ok(await until(() => tree.every((pid) => readProcStat(pid) === null), 5000), `all of ${tree.join(',')} gone`);
  } finally {
    children.killAllNow();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pipe mode collects stdout; log tails lead with the error line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-children-'));
  const children = new BenchChildren(dir);
  try {
    const echo = children.spawn('echo', 'sh', ['-c', 'echo hello; echo oops >&2; exit 3'], { cpus: null, output: 'pipe' });
    assert.deepEqual(await echo.exited, { code: 3, signal: null, spawnError: null });
    assert.equal(echo.stdout(), 'hello\n');
    assert.equal(echo.logTail(), 'oops');
    const crash = children.spawn('crash', 'sh', ['-c', 'echo "Error: cannot find x"; for i in 1 2 3 4 5 6; do echo "  at frame $i"; done; exit 1'], { cpus: null, output: 'log' });
    await crash.exited;
    assert.equal(crash.logTail(2), 'Error: cannot find x | at frame 5 | at frame 6');
    const missing = children.spawn('missing', '/nonexistent/tool', [], { cpus: null, output: 'pipe' });
    const exit = await missing.exited;
    assert.match(exit.spawnError?.message ?? '', /ENOENT/);
  } finally {
    await children.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('taskset pins the child to the requested CPU', { skip: process.platform !== 'linux' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-children-'));
  const children = new BenchChildren(dir);
  try {
    const child = children.spawn('pinned', 'sh', ['-c', 'grep Cpus_allowed_list /proc/self/status'], { cpus: '0', output: 'pipe' });
    const exit = await child.exited;
    if (exit.spawnError !== null) return; // no taskset on this machine: nothing to check
    assert.match(child.stdout(), /Cpus_allowed_list:\s+0\n/);
  } finally {
    await children.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
