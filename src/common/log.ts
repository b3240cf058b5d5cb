import { pino, type Logger } from 'pino';

export type { Logger };
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/** JSON lines on stderr (stdout belongs to the CLI's tables and -o json). Asynchronous so a slow terminal never blocks the data path. */
export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  return pino(
    { name: component, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: false, minLength: 0 }),
  );
}
