// The sidecar's admin server (port 15000): liveness, readiness, the active config as JSON,
// each upstream endpoint's balancing and ejection state, Prometheus metrics and live taps (the
// last only with a grant from the control plane). Off the request path, so plain JSON and async
// work are fine here.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyRuntime } from './proxy-runtime.js';
import { tapFromQuery, tapRefusalsFor } from './telemetry/tap-admin.js';
import { TapGrantVerifier } from './telemetry/tap-grant-verifier.js';
import type { CounterFamily } from './telemetry/metric-families.js';

export interface XdsStatus {
  connected: boolean;
  /** The control-plane replica connected to (or being tried); `servers` lists them all. */
  server: string;
  servers?: readonly string[];
  reconnects?: number;
  failovers?: number;
  ackedVersion: string | null;
  lastNack: { version: string; error: string } | null;
  lastUpdate: string | null;
  source: string | null;
}

export interface AdminOptions {
  address: string;
  port: number;
  runtime: ProxyRuntime;
  /** Status of the xDS client, when there is one. */
  xdsStatus?: () => XdsStatus | Record<string, unknown>;
  /** The NodeInfo this proxy registered with, once known. */
  node?: () => unknown;
  /** The workload certificate held (never its key), when the sidecar has an identity. */
  identity?: () => unknown;
  /** Further conditions of readiness beside the runtime's (the interception listener bound). */
  ready?: () => boolean;
  /** Checks the control plane's grant on /tap; by default one that knows no signer, so every tap is refused. */
  tapGrants?: TapGrantVerifier;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly tapGrants: TapGrantVerifier;
  private readonly tapRefusals: CounterFamily;

  constructor(private readonly opts: AdminOptions) {
    this.tapGrants = opts.tapGrants ?? new TapGrantVerifier({ proxyId: () => null });
    this.tapRefusals = tapRefusalsFor(opts.runtime.metrics.registry);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${err.message}\n`);
      });
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.opts.port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const rt = this.opts.runtime;
    switch (path) {
      case '/live':
        return text(res, 200, 'live\n');
      case '/ready':
        return rt.ready && (this.opts.ready?.() ?? true) ? text(res, 200, 'ready\n') : text(res, 503, 'not ready\n');
      case '/config_dump':
        return json(res, 200, configDump(rt, this.opts.xdsStatus?.() ?? null, this.opts.node?.() ?? null, this.opts.identity?.() ?? null));
      case '/endpoints':
        return json(res, 200, rt.clusters.describeEndpoints());
      case '/tap':
        return tapFromQuery(rt.metrics.telemetry.tap, req, res, this.tapGrants, this.tapRefusals);
      case '/metrics': {
        const body = await rt.metrics.text();
        res.writeHead(200, { 'content-type': rt.metrics.contentType });
        res.end(body);
        return;
      }
      default:
        return text(res, 404, 'not found: try /live /ready /config_dump /endpoints /metrics /tap\n');
    }
  }
}

export function configDump(rt: ProxyRuntime, xds: unknown, node: unknown, identity: unknown = null): Record<string, unknown> {
  const cfg = rt.activeConfig;
  const listeners = [...rt.activeListeners().values()].map((l) => ({
    ...l.config,
    bound: l.address !== null,
    boundPort: l.address?.port ?? null,
    activeRequests: l.activeRequests,
  }));
  const clusters = [...rt.clusters.all()].map((c) => ({ ...c.config, endpoints: c.endpoints }));
  return {
    version: cfg?.version ?? null,
    source: rt.configSource,
    ready: rt.ready,
    node,
    listeners,
    routes: cfg ? [...cfg.routes.values()] : [],
    clusters,
    endpoints: cfg ? [...cfg.endpoints.values()] : [],
    xds,
    identity,
    limits: rt.limits,
    requestMetrics: rt.metrics.requestMetrics,
    overload: rt.overload.describe(),
  };
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}
