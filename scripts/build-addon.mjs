// Builds the SO_ORIGINAL_DST addon (native/original-dst.c → build/Release/original_dst.node) with
// node-gyp: at `npm ci` (the package's install script) and at `npm run build`, where it is
// skipped while the built file is newer than its sources.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'build', 'Release', 'original_dst.node');
const sources = [path.join(root, 'binding.gyp'), path.join(root, 'native', 'original-dst.c')];

const mtime = (p) => statSync(p).mtimeMs;
if (existsSync(output) && sources.every((s) => mtime(s) <= mtime(output))) process.exit(0);

// Without a C++ toolchain (a fresh machine) the mesh still installs and runs; only interception
// (`trellis proxy --intercept`) needs the addon, and says so. `npm test` installs the toolchain first.
const missing = ['g++', 'make', 'python3'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).error);
if (missing.length > 0) {
  console.error(`build-addon: skipped, ${missing.join(', ')} not installed: the SO_ORIGINAL_DST addon (trellis proxy --intercept) is not built; apt-get install g++ make python3, then npm run build:addon`);
  process.exit(0);
}

// npm puts its bundled node-gyp on PATH for scripts and names it in npm_config_node_gyp
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild', '--loglevel=warn']] : ['node-gyp', ['rebuild', '--loglevel=warn']];
const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
if (r.error || r.status !== 0) {
  console.error(`build-addon: node-gyp rebuild failed (${r.error?.message ?? `exit ${r.status}`}); it needs g++, make, python3 and Node's headers`);
  process.exit(1);
}
