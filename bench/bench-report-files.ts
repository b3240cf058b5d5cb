import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from './bench-report.js';
import { renderMarkdown } from './bench-report-markdown.js';

/** ISO 8601 basic format (no colons), so the name is valid on every file system. */
export function fileTimestamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Writes `<stamp>.json`, `<stamp>.md` and `latest.md` into dir; returns the paths written. */
export function writeReportFiles(dir: string, report: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = fileTimestamp(report.startedAt);
  const markdown = renderMarkdown(report);
  const paths = [join(dir, `${stamp}.json`), join(dir, `${stamp}.md`), join(dir, 'latest.md')];
  writeFileSync(paths[0], `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(paths[1], markdown);
  writeFileSync(paths[2], markdown);
  return paths;
}
