// The admin port's `GET /tap?path=&status=&max=&direction=&service=`: an NDJSON stream of the
// requests passing this sidecar (never their bodies) until the client leaves or `max` is reached.
// It opens only with a tap grant from the control plane (tap-grant-verifier.ts); refusals are
// counted in `trellis_admin_tap_refused_total{reason}`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricRegistry } from './metric-registry.js';
import { tapGrantScheme } from '../../xds/tap-grant.js';
import { CounterFamily } from './metric-families.js';
import { parseStatusFilter, type TapFilter, type TapHub } from './tap-hub.js';
import type { TapGrantVerifier } from './tap-grant-verifier.js';

const refusalsByRegistry = new WeakMap<MetricRegistry, CounterFamily>();

/** The refusal counter of one sidecar's registry, registered on first use. */
export function tapRefusalsFor(registry: MetricRegistry): CounterFamily {
  let family = refusalsByRegistry.get(registry);
  if (!family) {
    family = new CounterFamily('trellis_admin_tap_refused_total', 'Admin /tap requests refused for want of a valid grant from the control plane, by reason.', ['reason']);
    registry.registerMetric(family);
    refusalsByRegistry.set(registry, family);
  }
  return family;
}

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

export function tapFromQuery(hub: TapHub, req: IncomingMessage, res: ServerResponse, grants: TapGrantVerifier, refusals: CounterFamily): void {
  const granted = grants.check(req.headers.authorization, req.url ?? '/');
  if (!granted.ok) {
    refusals.cell(granted.reason).value++;
    const challenge: Record<string, string> = granted.status === 401 ? { 'www-authenticate': `${tapGrantScheme} realm="trellis-admin"` } : {};
    res.writeHead(granted.status, { 'content-type': 'text/plain; charset=utf-8', ...challenge });
    res.end(`${granted.message}\n`);
    return;
  }
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
