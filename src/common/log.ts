import { createRequire } from 'node:module';
import type { Logger, pino as Pino } from 'pino';

export type { Logger };
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

// Loaded on first use, not with this module: the CLI imports logLevels before it knows the
// command, and a sidecar tunes V8 (proxy-v8-tuning.ts) before it loads its libraries.
const require = createRequire(import.meta.url);
let pinoModule: typeof Pino | undefined;

/** JSON lines on stderr (stdout belongs to the CLI's tables and -o json). Asynchronous so a slow terminal never blocks the data path. */
export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  const pino = (pinoModule ??= (require('pino') as { pino: typeof Pino }).pino);
  return pino(
    { name: component, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: false, minLength: 0 }),
  );
}
