import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

const run = (args: string[]) => new Promise<{ code: number; stderr: string }>((resolve) => {
  execFile(process.execPath, [cli, ...args], { timeout: 20_000 }, (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }));
});

describe('trellis proxy --intercept', () => {
  it('refuses to run as root (its own connections would be redirected back to it)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const r = await run(['proxy', '--service', 'api', '--intercept', '--address', '127.0.84.3', '--control', '127.0.84.3:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--intercept: the sidecar must run as the uid \(or gid\) trellis init exempts, not as root/);
  });

  it('refuses a --uid that is not a number', async () => {
    const bad = await run(['proxy', '--service', 'api', '--uid', 'proxy']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--uid: "proxy" is not a numeric id/);
  });

  it('needs a pod address other than 127.0.0.1 to intercept', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const r = await run(['proxy', '--service', 'api', '--intercept', '--uid', '1337', '--control', '127.0.84.3:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--intercept needs the pod's own address/);
  });
});
