// Bundles the compiled CLI (dist/src/cli/main.js) into one minified ES module plus lazily loaded
// chunks (dist/src/cli/bundle/), in place, so `trellis`, the tests and the benches all run what ships.
// Why: a sidecar that loads ~270 separate modules, some of them CommonJS (commander, protobufjs),
// keeps their source text and exercises Node's CommonJS loader; bundled and minified it measured
// −4.7 MB RSS idle (docs/sidecar-memory.md). Packages the sidecar does not load stay external,
// as do those that find their own files at run time (pino starts workers from its own paths).
import { build } from 'esbuild';
import { readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = path.join(root, 'dist', 'src', 'cli');
const entry = path.join(cliDir, 'main.js');
const staging = path.join(root, 'dist', '.cli-bundle');
/** Bundled into the CLI: pure JavaScript that the sidecar loads at start. */
const bundled = new Set(['commander', 'protobufjs']);

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((d) => !bundled.has(d)).flatMap((d) => [d, `${d}/*`]);

rmSync(staging, { recursive: true, force: true });
await build({
  entryPoints: [entry],
  outdir: staging,
  chunkNames: 'bundle/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // error names and class names show in logs and stack traces
  keepNames: true,
  sourcemap: true,
  external,
  // CommonJS packages in an ES module bundle require Node's built-ins through this.
  banner: { js: "import { createRequire as __trellisCreateRequire } from 'node:module'; const require = __trellisCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
rmSync(path.join(cliDir, 'bundle'), { recursive: true, force: true });
renameSync(path.join(staging, 'bundle'), path.join(cliDir, 'bundle'));
for (const f of ['main.js', 'main.js.map']) {
  if (existsSync(path.join(staging, f))) renameSync(path.join(staging, f), path.join(cliDir, f));
}
rmSync(staging, { recursive: true, force: true });
