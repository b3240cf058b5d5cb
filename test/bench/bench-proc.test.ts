import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpuSeconds, parseProcStat, parseVmRss, readProcStat, rssBytes, withDescendants } from '../../bench/bench-proc.js';

test('parses ppid and utime+stime even when the command name holds spaces and parentheses', () => {
  const line = '4242 (node (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 11 0 12345 1000000 5000 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { ppid: 17, cpuTicks: 281 });
  assert.equal(parseProcStat('garbage'), null);
});

test('reads VmRSS in bytes, null when absent', () => {
  assert.equal(parseVmRss('Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t    8192 kB\nThreads:\t1\n'), 8192 * 1024);
  assert.equal(parseVmRss('Name:\tkthreadd\nThreads:\t1\n'), null);
});

test('finds a process tree and measures its CPU and RSS from /proc', async () => {
  // sh with a background child: the child is a grandchild of this test process.
  const sh = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  try {
    const pid = sh.pid as number;
    let tree: number[] = [];
    for (let i = 0; i < 50 && tree.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tree = withDescendants([pid]);
    }
    assert.ok(tree.includes(pid));
    assert.equal(tree.length, 2, `expected sh and sleep, got ${tree.join(',')}`);
    assert.ok(tree.every((p) => readProcStat(p) !== null));
    assert.ok(rssBytes(tree) > 0);
    assert.ok(cpuSeconds([process.pid], 100) > 0, 'this test process has used some CPU');
    assert.equal(cpuSeconds([2 ** 30], 100), 0, 'a pid that does not exist counts as 0');
    assert.deepEqual(withDescendants([2 ** 30]), []);
  } finally {
    for (const p of withDescendants([sh.pid as number]).reverse()) {
      try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (sh.exitCode === null && sh.signalCode === null) await once(sh, 'exit');
  }
});
