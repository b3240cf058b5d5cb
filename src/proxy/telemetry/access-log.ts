// Access-log lines, one JSON object (or one text line) per request, written through pino's
// asynchronous destination (sonic-boom) so the request path only appends to a buffer. The
// schema is the same for every service (docs/telemetry.md, "Access logs").
import { createRequire } from 'node:module';
import type { pino as Pino } from 'pino';

/** One request's entry. */
export interface AccessLogEntry {
  time: string;
  traceId: string | null;
  direction: string;
  source: string | null;
  destination: string | null;
  method: string;
  authority: string;
  path: string;
  route: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  upstream: string | null;
  errorCode: string | null;
  retries: number;
}

export interface AccessLogSink {
  write(line: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** `path` a file (appended), or `-`/absent for stdout. */
export function openAccessLog(path: string | undefined): AccessLogSink {
  const pino = (require('pino') as { pino: typeof Pino }).pino;
  const dest = pino.destination({ dest: path === undefined || path === '-' ? 1 : path, sync: false, minLength: 0, mkdir: true });
  let closed = false;
  return {
    write(line: string): void {
      if (!closed) dest.write(line);
    },
    flush(): Promise<void> {
      return new Promise((resolve) => {
        // sonic-boom cannot flush before its file is open
        if ((dest as unknown as { fd: number }).fd < 0) dest.once('ready', () => dest.flush(() => resolve()));
        else dest.flush(() => resolve());
      });
    },
    close(): Promise<void> {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => {
        dest.once('close', () => resolve());
        dest.once('error', () => resolve());
        // stdout is never closed, only flushed
        if ((dest as unknown as { fd: number }).fd === 1) dest.flush(() => resolve());
        else dest.end();
      });
    },
  };
}

const q = JSON.stringify;

function qn(s: string | null): string {
  return s === null ? 'null' : q(s);
}

/** One JSON line; field order fixed so lines diff and grep well. */
export function accessLogJson(e: AccessLogEntry): string {
  return '{"time":"' + e.time + '","traceId":' + qn(e.traceId) + ',"direction":"' + e.direction +
    '","source":' + qn(e.source) + ',"destination":' + qn(e.destination) + ',"method":' + q(e.method) +
    ',"authority":' + q(e.authority) + ',"path":' + q(e.path) + ',"route":' + q(e.route) + ',"status":' + e.status +
    ',"bytesIn":' + e.bytesIn + ',"bytesOut":' + e.bytesOut + ',"durationMs":' + e.durationMs +
    ',"upstream":' + qn(e.upstream) + ',"errorCode":' + qn(e.errorCode) + ',"retries":' + e.retries + '}\n';
}

/** Envoy-like text form for people reading a terminal. */
export function accessLogText(e: AccessLogEntry): string {
  return `[${e.time}] "${e.method} ${e.path}" ${e.status} ${e.errorCode ?? '-'} ${e.bytesIn} ${e.bytesOut} ${e.durationMs} ` +
    `"${e.authority}" ${e.direction} ${e.source ?? '-'} -> ${e.destination ?? '-'} ${e.upstream ?? '-'} ${e.traceId ?? '-'}\n`;
}
