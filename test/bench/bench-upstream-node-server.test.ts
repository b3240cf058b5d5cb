import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChildren } from '../../bench/bench-children.js';
import { expectUpstreamBody, httpGet, pollHttp } from '../../bench/bench-http-probe.js';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'bench-upstream-node-server.js');

test('the fallback upstream answers 200 with the requested body size, and the probe notices a wrong size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-upstream-'));
  const children = new BenchChildren(dir);
  try {
    const child = children.spawn('upstream', process.execPath, [script, '127.0.40.200', '18080', '100'], { cpus: null, output: 'log' });
    const url = 'http://127.0.40.200:18080/anything';
    const problem = await pollHttp(url, null, 10_000, expectUpstreamBody(100), () => (child.isRunning() ? null : child.logTail()));
    assert.equal(problem, null);
    const r = await httpGet(url, 'bench-app', 2000);
    assert.ok(!(r instanceof Error));
    assert.equal(expectUpstreamBody(99)(r), 'body of 100 bytes, expected 99');
    await children.stop(child);
    assert.deepEqual(await child.exited, { code: 0, signal: null, spawnError: null }, 'exits cleanly on SIGTERM');
  } finally {
    await children.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('polling gives up at its deadline and names the last failure', async () => {
  const problem = await pollHttp('http://127.0.40.201:1/', null, 300, expectUpstreamBody(100), () => null);
  assert.match(problem ?? '', /ECONNREFUSED.*gave up after 0.3s/);
});
