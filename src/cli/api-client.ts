// The CLI's one way to reach the control plane's HTTP API (shared/DESIGN.md §4).
import { readFileSync } from 'node:fs';

export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly body: unknown) {
    super(message);
  }
}

export function defaultApiUrl(): string {
  return process.env.TRELLIS_API ?? 'http://127.0.0.1:15080';
}

let apiToken: string | undefined;

/**
 * The API token every request carries (the admin token, or a read token for reads and tap):
 * --token, else TRELLIS_TOKEN, else the first line of --token-file; none by default (reads on
 * loopback need none, but tap does).
 */
export function useApiToken(opts: { token?: string; tokenFile?: string }): void {
  if (opts.token) apiToken = opts.token;
  else if (process.env.TRELLIS_TOKEN) apiToken = process.env.TRELLIS_TOKEN;
  else if (opts.tokenFile) {
    try {
      apiToken = readFileSync(opts.tokenFile, 'utf8').trim().split('\n')[0];
    } catch (err) {
      throw new Error(`cannot read --token-file ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else apiToken = undefined;
}

/** The Authorization header for requests made outside apiRequest (streams such as tap). */
export function apiAuthHeaders(): Record<string, string> {
  return apiToken ? { authorization: `Bearer ${apiToken}` } : {};
}

export async function apiRequest<T>(apiUrl: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<T> {
  let res: Response;
  try {
    const withAuth = apiToken ? { authorization: `Bearer ${apiToken}`, ...headers } : headers;
    res = await fetch(new URL(path, apiUrl), { method, body, headers: withAuth, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new ApiError(`cannot reach the control plane at ${apiUrl} (${cause}); is \`trellis control\` running? (--api or TRELLIS_API selects another)`, 0, null);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep the text: the message below shows it
  }
  if (!res.ok) {
    const msg = (parsed as { error?: string } | null)?.error ?? (typeof parsed === 'string' ? parsed : res.statusText);
    throw new ApiError(`${method} ${path}: ${res.status} ${msg}`, res.status, parsed);
  }
  return parsed as T;
}
