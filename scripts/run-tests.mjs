// Runs every compiled test file with Node's built-in runner. Node 20's `--test` takes no globs,
// so list the files here; independent files run two at a time (the machine has two cores and
// every e2e file uses its own 127.x address range).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

const root = path.join(process.cwd(), 'dist', 'test');
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
files.sort();
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  console.error('no test files found under dist/test (did `npm run build` run?)');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...selected], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
