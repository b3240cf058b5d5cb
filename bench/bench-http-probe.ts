import { request } from 'node:http';

export interface ProbeResult {
  readonly status: number;
  readonly bodyBytes: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** One GET without keep-alive, bounded by timeoutMs; an Error on any failure. */
export function httpGet(url: string, hostHeader: string | null, timeoutMs: number): Promise<ProbeResult | Error> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { connection: 'close' };
    if (hostHeader !== null) headers.host = hostHeader;
    const req = request(url, { method: 'GET', headers, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bodyBytes: bytes, headers: res.headers }));
      res.on('error', (error) => resolve(error));
    });
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve(error));
    req.end();
  });
}

/**
 * Polls until `check` accepts a response or the deadline passes; returns null on success, else
 * the last failure. `abort` ends the wait early (e.g. the process under test exited).
 */
export async function pollHttp(
  url: string, hostHeader: string | null, timeoutMs: number,
  check: (r: ProbeResult) => string | null, abort: () => string | null,
): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not tried';
  while (Date.now() < deadline) {
    const aborted = abort();
    if (aborted !== null) return aborted;
    const result = await httpGet(url, hostHeader, Math.min(2000, Math.max(100, deadline - Date.now())));
    if (result instanceof Error) last = result.message;
    else {
      const problem = check(result);
      if (problem === null) return null;
      last = problem;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return `${url}: ${last} (gave up after ${timeoutMs / 1000}s)`;
}

export function expectStatus(status: number): (r: ProbeResult) => string | null {
  return (r) => (r.status === status ? null : `status ${r.status}${describeError(r)}`);
}

/** The bench's upstream answers 200 with exactly this many bytes; anything else means a broken path. */
export function expectUpstreamBody(bodyBytes: number): (r: ProbeResult) => string | null {
  return (r) => {
    if (r.status !== 200) return `status ${r.status}${describeError(r)}`;
    return r.bodyBytes === bodyBytes ? null : `body of ${r.bodyBytes} bytes, expected ${bodyBytes}`;
  };
}

function describeError(r: ProbeResult): string {
  const code = r.headers['x-trellis-error'];
  return code === undefined ? '' : ` (x-trellis-error: ${String(code)})`;
}
