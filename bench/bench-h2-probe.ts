import http2 from 'node:http2';

export interface H2ProbeResult {
  readonly status: number;
  readonly bodyBytes: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
}

export interface H2ProbeRequest {
  /** `http://host:port/path`: h2c with prior knowledge. */
  readonly url: string;
  readonly authority: string | null;
  readonly method: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/** One request on a session of its own, closed afterwards; an Error on any failure or after timeoutMs. */
export function h2Request(req: H2ProbeRequest, timeoutMs: number): Promise<H2ProbeResult | Error> {
  return new Promise((resolve) => {
    const url = new URL(req.url);
    const session = http2.connect(url.origin);
    let settled = false;
    const done = (r: H2ProbeResult | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(new Error(`no HTTP/2 response within ${timeoutMs} ms`)), timeoutMs);
    session.on('error', done);
    const headers: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': `${url.pathname}${url.search}`, ...req.headers };
    if (req.authority !== null) headers[':authority'] = req.authority;
    const stream = session.request(headers);
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let bytes = 0;
    stream.on('response', (h) => { responseHeaders = h; status = Number(h[':status']); });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    stream.on('end', () => done({ status, bodyBytes: bytes, headers: responseHeaders, trailers }));
    stream.on('error', done);
    stream.end(req.body);
  });
}

/** Polls until `check` accepts a response; null on success, else the last failure. */
export async function pollH2(
  req: H2ProbeRequest, timeoutMs: number, check: (r: H2ProbeResult) => string | null, abort: () => string | null,
): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not tried';
  while (Date.now() < deadline) {
    const aborted = abort();
    if (aborted !== null) return aborted;
    const r = await h2Request(req, Math.min(2000, Math.max(100, deadline - Date.now())));
    if (r instanceof Error) last = r.message;
    else {
      const problem = check(r);
      if (problem === null) return null;
      last = problem;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return `${req.url} (HTTP/2${req.authority === null ? '' : `, :authority ${req.authority}`}): ${last} (gave up after ${timeoutMs / 1000}s)`;
}

/** 200 with exactly `bodyBytes` bytes of body. */
export function expectH2Body(bodyBytes: number): (r: H2ProbeResult) => string | null {
  return (r) => {
    if (r.status !== 200) return `status ${r.status}${r.headers['x-trellis-error'] === undefined ? '' : ` (x-trellis-error: ${String(r.headers['x-trellis-error'])})`}`;
    return r.bodyBytes === bodyBytes ? null : `body of ${r.bodyBytes} bytes, expected ${bodyBytes}`;
  };
}
