// Entry point of `npm run bench:scale` (bench/README.md, docs/scale.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileTimestamp } from '../bench-report-files.js';
import { parseScaleOptions } from './scale-options.js';
import { renderScaleTable } from './scale-report.js';
import { runScale } from './scale-run.js';

const options = parseScaleOptions(process.argv.slice(2));
if (options instanceof Error) {
  process.stderr.write(`${options.message}\n`);
  process.exit(2);
}
const stop = () => process.exit(130);
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  const result = await runScale(options, (line) => process.stderr.write(`${line}\n`));
  const table = renderScaleTable(result);
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bench/results');
  const file = options.out ?? path.join(dir, `scale-${fileTimestamp(result.startedAt)}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  if (options.out === null) writeFileSync(path.join(dir, 'scale-latest.md'), `${table}\n`);
  process.stdout.write(options.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : `${table}\n\nresults: ${file}\n`);
} catch (err) {
  process.stderr.write(`bench:scale failed: ${(err as Error).message}\n`);
  process.exit(1);
}
