import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log.js';
import { kindFromAlias } from '../../resources/kinds.js';
import { parseResources } from '../../resources/validate.js';
import type { Registry } from '../registry.js';
import type { Store } from '../store/store.js';
import { isStoreUnavailable } from '../store/store-unavailable.js';
import { endpointRows, grpcRouteRows, policyRows, proxyRows, routeRows, serviceRows } from './api-views.js';
import { EndpointStateCollector } from './endpoint-live-state.js';
import { readBody } from './read-body.js';
import { statsRoutes } from './api-stats.js';
import type { ControlTelemetry } from '../telemetry/control-telemetry.js';
import { trellisVersion } from '../../common/version.js';
import type { ApiAuth } from '../auth/api-auth.js';
import { identityRoutes, type IdentityApi } from './api-identity.js';
import { Dashboard } from './api-dashboard.js';
import { serveTap } from './api-tap.js';
import { rolloutRoutes } from './api-rollouts.js';
import { readTokenRoutes } from './api-read-tokens.js';
import type { ReadTokenStore } from '../auth/read-token-store.js';
import type { TapGrantSigner } from '../telemetry/tap-grant-signer.js';
import type { RolloutController } from '../rollout/rollout-controller.js';
import type { XdsPushStats } from '../xds/ads-server.js';

export interface ApiServerOptions {
  store: Store;
  registry: Registry;
  logger: Logger;
  telemetry?: ControlTelemetry;
  /** Where live endpoint state comes from; by default each connected sidecar's admin `GET /endpoints`. */
  endpointStates?: EndpointStateCollector;
  /** Without it every request is served (unit tests of the routes). */
  auth?: ApiAuth;
  identity?: IdentityApi;
  /** Signs the grant each sidecar's admin tap requires (src/xds/tap-grant.ts). */
  tapGrants?: Pick<TapGrantSigner, 'authorization'>;
  /** API read tokens (`trellis token create --read`); without it /api/v1/read-tokens answers 503. */
  readTokens?: ReadTokenStore;
  rollouts?: RolloutController;
  /** The xDS server's push statistics (GET /api/v1/xds). */
  xds?: { stats(): XdsPushStats };
  /** This control-plane replica's name, for the health answer. */
  replica?: string;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>;

interface RouteDef {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}

/** The control plane's JSON API under /api/v1 (node:http, no framework: a handful of routes). */
export class ApiServer {
  private readonly server: Server;
  private readonly routes: RouteDef[];
  private readonly endpointStates: EndpointStateCollector;
  private readonly dashboard: Dashboard;

  constructor(private readonly opts: ApiServerOptions) {
    this.endpointStates = opts.endpointStates ?? new EndpointStateCollector();
    this.routes = [
      { pattern: /^\/api\/v1\/health$/, methods: { GET: () => this.health() } },
      { pattern: /^\/api\/v1\/xds$/, methods: { GET: async () => (this.opts.xds ? [200, this.opts.xds.stats()] : [404, { error: 'no xDS server' }]) } },
      { pattern: /^\/api\/v1\/resources$/, methods: { GET: (_r, url) => this.listResources(url), POST: (req, url) => this.applyResources(req, url) } },
      { pattern: /^\/api\/v1\/resources\/([^/]+)\/([^/]+)\/([^/]+)$/, methods: { GET: (_r, _u, p) => this.getResource(p), DELETE: (_r, _u, p) => this.deleteResource(p) } },
      { pattern: /^\/api\/v1\/services$/, methods: { GET: async () => [200, serviceRows(await this.opts.store.list(), this.opts.registry.list())] } },
      { pattern: /^\/api\/v1\/routes$/, methods: { GET: async () => [200, routeRows(await this.opts.store.list(), this.opts.registry.list())] } },
      { pattern: /^\/api\/v1\/grpcroutes$/, methods: { GET: async () => [200, grpcRouteRows(await this.opts.store.list(), this.opts.registry.list())] } },
      { pattern: /^\/api\/v1\/policies$/, methods: { GET: async () => [200, policyRows(await this.opts.store.list(), this.opts.registry.list())] } },
      { pattern: /^\/api\/v1\/endpoints$/, methods: { GET: () => this.endpoints() } },
      { pattern: /^\/api\/v1\/proxies$/, methods: { GET: async () => [200, proxyRows(this.opts.registry.list()).map((row) => ({ ...row, ...this.opts.identity?.issuer.certificateColumns(row.id as string) ?? { certExpiry: null } }))] } },
      ...statsRoutes(opts.telemetry),
      ...identityRoutes(opts.identity),
      ...readTokenRoutes(opts.readTokens),
      ...rolloutRoutes(opts.rollouts),
    ];
    this.dashboard = new Dashboard({
      read: (p) => this.dispatch({ method: 'GET' } as IncomingMessage, new URL(p, 'http://localhost')),
      changes: [(cb) => opts.registry.onChange(cb), (cb) => opts.store.onChange(() => cb()), (cb) => opts.rollouts?.onChange(cb) ?? (() => undefined)],
      logger: opts.logger,
    });
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.dashboard.close();
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.dashboard.serveStatic(req, res)) return;
    let status: number;
    let body: unknown;
    let headers: Record<string, string> = {};
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const denied = await this.opts.auth?.check(req, url.pathname);
      if (denied && !denied.ok) {
        this.opts.logger.warn({ method: req.method, path: url.pathname, status: denied.status, remote: req.socket.remoteAddress }, `API request refused: ${denied.message}`);
        throw new HttpError(denied.status, denied.message, denied.status === 401 ? { 'www-authenticate': 'Bearer realm="trellis"' } : {});
      }
      if (this.dashboard.serveEvents(req, res, url)) return;
      if (serveTap(req, res, url, { registry: this.opts.registry, authorize: this.opts.tapGrants && ((proxy, target) => this.opts.tapGrants!.authorization(proxy, target)), logger: this.opts.logger }, denied?.ok ? denied.principal : null)) return;
      [status, body] = await this.dispatch(req, url);
    } catch (err) {
      if (err instanceof HttpError) {
        [status, body, headers] = [err.status, { error: err.message }, err.headers];
      } else if (isStoreUnavailable(err)) {
        // the replica still serves reads and xDS; only writes wait for the store to come back
        [status, body, headers] = [503, { error: err.message }, { 'retry-after': '5' }];
      } else {
        this.opts.logger.error({ err, method: req.method, url: req.url }, 'API request failed');
        [status, body] = [500, { error: `internal error: ${(err as Error).message}` }];
      }
    }
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
    // an unread request body (e.g. one refused as too large) must not stall the connection
    if (!req.complete) req.resume();
  }

  private dispatch(req: IncomingMessage, url: URL): Promise<[number, unknown]> {
    for (const route of this.routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      const handler = route.methods[req.method ?? 'GET'];
      if (!handler) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`, { allow: Object.keys(route.methods).join(', ') });
      return handler(req, url, m.slice(1).map(decodeURIComponent));
    }
    throw new HttpError(404, `no such API path: ${url.pathname}`);
  }

  private async endpoints(): Promise<[number, unknown]> {
    const instances = this.opts.registry.list();
    const [resources, live] = await Promise.all([this.opts.store.list(), this.endpointStates.states(instances)]);
    return [200, endpointRows(resources, instances, live)];
  }

  private async health(): Promise<[number, unknown]> {
    const resources = await this.opts.store.list();
    const proxies = this.opts.registry.list().filter((i) => i.connected).length;
    const store = this.opts.store.health?.() ?? { writable: true };
    // degraded still answers 200: the replica serves xDS and reads from its last state
    const state = store.writable ? { status: 'ok' } : { status: 'degraded', reason: `store unavailable: read-only (${store.reason ?? 'unknown'})` };
    const replica = this.opts.replica ? { replica: this.opts.replica } : {};
    // the store revision lets a client wait until every proxy reflects everything stored so far
    return [200, { ...state, version: trellisVersion(), pid: process.pid, proxies, resources: resources.length, revision: this.opts.store.revision, ...replica }];
  }

  private async listResources(url: URL): Promise<[number, unknown]> {
    const alias = url.searchParams.get('kind');
    const kind = alias ? kindFromAlias(alias) : undefined;
    if (alias && !kind) throw new HttpError(400, `unknown kind "${alias}"`);
    return [200, await this.opts.store.list(kind)];
  }

  private async getResource([alias, namespace, name]: string[]): Promise<[number, unknown]> {
    const kind = kindFromAlias(alias);
    if (!kind) throw new HttpError(400, `unknown kind "${alias}"`);
    const found = await this.opts.store.get(kind, namespace, name);
    if (!found) throw new HttpError(404, `${kind} ${namespace}/${name} not found`);
    return [200, found];
  }

  private async applyResources(req: IncomingMessage, url: URL): Promise<[number, unknown]> {
    const body = await readBody(req);
    if (!body.ok) throw new HttpError(413, 'request body is larger than 4 MiB');
    const source = headerValue(req.headers['x-trellis-source']) || '<request>';
    const parsed = parseResources(body.text, source);
    if (!parsed.ok) return [400, { errors: parsed.errors }];
    const dryRun = url.searchParams.get('dryRun') === 'true';
    const applied = await this.opts.store.apply(parsed.resources, { dryRun });
    this.opts.logger.info({ source, dryRun, applied: applied.filter((a) => a.action !== 'unchanged').length }, 'resources applied');
    // the revision lets a client wait until every proxy ACKed a snapshot that includes this change
    return [200, dryRun ? { applied, dryRun: true } : { applied, revision: this.opts.store.revision }];
  }

  private async deleteResource([alias, namespace, name]: string[]): Promise<[number, unknown]> {
    const kind = kindFromAlias(alias);
    if (!kind) throw new HttpError(400, `unknown kind "${alias}"`);
    if (!(await this.opts.store.delete(kind, namespace, name))) throw new HttpError(404, `${kind} ${namespace}/${name} not found`);
    this.opts.logger.info({ kind, namespace, name }, 'resource deleted');
    return [200, { deleted: { kind, namespace, name } }];
  }
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v[0] ?? '' : v ?? '';
}
