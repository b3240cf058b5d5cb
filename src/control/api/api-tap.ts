// `GET /api/v1/tap?service=S[&namespace=N][&path=P][&status=S][&max=N]`: a live stream of the
// requests that S's sidecars and its callers' sidecars see, as NDJSON (default) or as server-sent
// events (`Accept: text/event-stream` or `format=sse`, for the dashboard's EventSource). The API
// server checks the token before this runs: a tap needs the admin token or a read token in every
// auth mode (ApiAuth). Each sidecar's admin tap gets a grant signed by the control plane.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/log.js';
import type { Registry } from '../registry.js';
import { TapFanIn, tapTargets, type TapAuthorizer } from '../telemetry/tap-fan-in.js';

export interface TapServing {
  registry: Registry;
  /** Proves the control plane to each sidecar (TapGrantSigner); without it the admin taps are opened bare (and refused). */
  authorize?: TapAuthorizer;
  logger?: Logger;
}

function badRequest(res: ServerResponse, error: string): void {
  const text = JSON.stringify({ error }) + '\n';
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** True when the request was a tap (answered here). */
export function serveTap(req: IncomingMessage, res: ServerResponse, url: URL, serving: TapServing, principal: string | null = null): boolean {
  if (url.pathname !== '/api/v1/tap' || req.method !== 'GET') return false;
  const q = url.searchParams;
  const service = q.get('service') ?? '';
  if (service === '') {
    badRequest(res, 'service is required: /api/v1/tap?service=NAME');
    return true;
  }
  const path = q.get('path') ?? '';
  if (path !== '' && !path.startsWith('/')) {
    badRequest(res, `path must start with "/", got "${path}"`);
    return true;
  }
  const status = q.get('status') ?? '';
  if (status !== '' && !/^([1-5]xx|\d{3})$/i.test(status)) {
    badRequest(res, `status must be a code (503) or a class (5xx), got "${status}"`);
    return true;
  }
  const max = Number(q.get('max') ?? '0');
  if (!Number.isInteger(max) || max < 0) {
    badRequest(res, `max must be a whole number >= 0, got "${q.get('max')}"`);
    return true;
  }
  const sse = q.get('format') === 'sse' || (req.headers.accept ?? '').includes('text/event-stream');
  const namespace = q.get('namespace') || 'default';
  const targets = tapTargets(serving.registry.list(), { service, namespace, path, status, max });
  // who watched what, for the audit trail: the stream shows live request metadata
  serving.logger?.info({ by: principal ?? 'anonymous', service, namespace, path, status, max, sidecars: targets.length, remote: req.socket.remoteAddress }, 'tap opened');
  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.flushHeaders();
  const fanIn = new TapFanIn(targets, max, {
    line: (line) => res.write(sse ? `data: ${line.slice(0, -1)}\n\n` : line),
    end: () => res.end(),
    onDrain: (cb) => res.once('drain', cb),
  }, serving.authorize);
  res.on('close', () => fanIn.stop());
  fanIn.start();
  return true;
}
