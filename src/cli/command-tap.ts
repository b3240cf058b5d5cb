// `trellis tap SERVICE`: a live line per request that the service's sidecars (and its callers'
// sidecars) see; bodies are never captured. Ends after --max events, or cleanly on Ctrl-C.
import { ApiError, apiAuthHeaders } from './api-client.js';
import type { OutputFormat } from './output.js';

export interface TapFlags {
  namespace: string;
  path?: string;
  status?: string;
  max: number;
  output: OutputFormat;
}

export function tapPath(service: string, flags: Pick<TapFlags, 'namespace' | 'path' | 'status' | 'max'>): string {
  const q = new URLSearchParams({ service, namespace: flags.namespace });
  if (flags.path) q.set('path', flags.path);
  if (flags.status) q.set('status', flags.status);
  if (flags.max > 0) q.set('max', String(flags.max));
  return `/api/v1/tap?${q}`;
}

interface TapLine {
  type: string;
  time?: string;
  direction?: string;
  source?: { service: string | null; address: string | null };
  destination?: { service: string | null; address: string | null };
  method?: string;
  authority?: string;
  path?: string;
  status?: number;
  latencyMs?: number;
  upstream?: string | null;
  error?: string | null;
  proxy?: string;
  count?: number;
  targets?: Array<{ proxy: string; direction: string }>;
}

const peer = (p: { service: string | null; address: string | null } | undefined) => p?.service ?? p?.address ?? '-';

/** One human line for an event; null for lines that are not shown in text mode. */
export function tapText(e: TapLine): string | null {
  if (e.type === 'request') {
    const dir = e.direction === 'inbound' ? 'in ' : 'out';
    return `${e.time?.slice(11, 23)} ${dir} ${peer(e.source)} -> ${peer(e.destination)} ${e.method} ${e.authority} ${e.path} ` +
      `${e.status}${e.error ? ` (${e.error})` : ''} ${e.latencyMs?.toFixed(1)}ms${e.upstream ? ` via ${e.upstream}` : ''}`;
  }
  if (e.type === 'dropped') return `# ${e.count} events dropped (the tap could not keep up)`;
  if (e.type === 'error') return `# ${e.proxy}: ${e.error}`;
  return null;
}

export async function tapCommand(apiUrl: string, service: string, flags: TapFlags, signal?: AbortSignal): Promise<number> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal?.addEventListener('abort', stop);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let res: Response;
    try {
      res = await fetch(new URL(tapPath(service, flags), apiUrl), { headers: { accept: 'application/x-ndjson', ...apiAuthHeaders() }, signal: ac.signal });
    } catch (err) {
      if (ac.signal.aborted) return 0;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiError(`cannot reach the control plane at ${apiUrl} (${cause}); is \`trellis control\` running?`, 0, null);
    }
    if (!res.ok || res.body === null) {
      const text = await res.text();
      let msg = text;
      try {
        msg = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON: show it as it came
      }
      throw new ApiError(`GET /api/v1/tap: ${res.status} ${msg.trim()}`, res.status, null);
    }
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (ac.signal.aborted) return 0;
        throw err;
      }
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim() === '') continue;
        const e = JSON.parse(line) as TapLine;
        if (flags.output === 'json') {
          if (e.type === 'request') process.stdout.write(line + '\n');
          else if (e.type !== 'open') process.stderr.write(line + '\n');
          continue;
        }
        if (e.type === 'open') {
          process.stderr.write(e.targets!.length === 0
            ? `no connected sidecar sees ${service}; waiting for nothing\n`
            : `tapping ${service} on ${e.targets!.length} sidecar(s); Ctrl-C to stop\n`);
          continue;
        }
        const text = tapText(e);
        if (text !== null) (e.type === 'request' ? process.stdout : process.stderr).write(text + '\n');
      }
    }
    return 0;
  } finally {
    signal?.removeEventListener('abort', stop);
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}
