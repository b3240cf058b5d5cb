// Every request the dashboard makes goes through here, so an API token entered once is sent
// with all of them. The token lives in sessionStorage: gone when the tab closes, never in a URL.

const tokenKey = 'trellis.apiToken';

export function apiToken(): string {
  try {
    return sessionStorage.getItem(tokenKey) ?? '';
  } catch {
    return '';
  }
}

export function setApiToken(token: string): void {
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
}

export function authHeaders(): Record<string, string> {
  const token = apiToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function apiGet<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json', ...authHeaders() }, signal });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      message = ((await res.json()) as { error?: string }).error ?? message;
    } catch { /* not JSON */ }
    throw new ApiError(res.status, message);
  }
  return (await res.json()) as T;
}
