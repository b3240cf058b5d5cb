// The admin port's `GET /tap?path=&status=&max=&direction=&service=`: an NDJSON stream of the
// requests passing this sidecar (never their bodies) until the client leaves or `max` is reached.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseStatusFilter, type TapFilter, type TapHub } from './tap-hub.js';

/** A filter from query parameters, or an error message. */
export function tapFilterFromQuery(q: URLSearchParams): TapFilter | string {
  const filter: TapFilter = {};
  const path = q.get('path');
  if (path) {
    if (!path.startsWith('/')) return `path must start with "/", got "${path}"`;
    filter.path = path;
  }
  const status = q.get('status');
  if (status) {
    const m = parseStatusFilter(status);
    if (typeof m === 'string') return m;
    filter.status = status;
  }
  const max = q.get('max');
  if (max) {
    const n = Number(max);
    if (!Number.isInteger(n) || n < 0) return `max must be a whole number >= 0, got "${max}"`;
    filter.max = n;
  }
  const direction = q.get('direction');
  if (direction) {
    if (direction !== 'inbound' && direction !== 'outbound') return `direction must be inbound or outbound, got "${direction}"`;
    filter.direction = direction;
  }
  const service = q.get('service');
  if (service) filter.service = service;
  return filter;
}

export function tapFromQuery(hub: TapHub, req: IncomingMessage, res: ServerResponse): void {
  const filter = tapFilterFromQuery(new URL(req.url ?? '/', 'http://admin').searchParams);
  if (typeof filter === 'string') {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${filter}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // The head goes out now, so a client knows the tap is open before the first request passes.
  res.flushHeaders();
  const sub = hub.subscribe(filter, res);
  res.on('close', () => sub.abandon());
}
