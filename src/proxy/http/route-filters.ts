// A route's Gateway API filters compiled once per config: request and response header
// modifiers, URL rewrite, redirect and mirrors. Routes without any have no RouteFilters at all,
// so the plain path pays one null check.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { BodyFraming } from '../cluster/pool/upstream-client.js';
import type { Cluster } from '../cluster/cluster.js';
import { RequestMirror } from './request-mirror.js';
import type { HeaderMutation, MirrorPolicy, RedirectAction, Route } from '../config/proxy-config.js';
import { buildRequestHead, hostOf, type RequestHead } from './forward-headers.js';
import { applyHeaderMutation } from './header-mutation.js';
import { CompiledPathRewrite } from './path-rewrite.js';

export class RouteFilters {
  readonly redirect: RedirectAction | null;
  readonly responseHeaders: HeaderMutation | null;
  readonly mirrors: readonly MirrorPolicy[] | null;
  private readonly requestHeaders: HeaderMutation | null;
  private readonly hostRewrite: string | null;
  private readonly pathRewrite: CompiledPathRewrite | null;
  private readonly redirectPath: CompiledPathRewrite | null;

  private constructor(route: Route) {
    this.redirect = route.redirect ?? null;
    this.responseHeaders = route.responseHeaders ?? null;
    this.mirrors = route.mirrors?.length ? route.mirrors : null;
    this.requestHeaders = route.requestHeaders ?? null;
    this.hostRewrite = route.rewrite?.host ?? null;
    this.pathRewrite = route.rewrite?.path ? new CompiledPathRewrite(route.rewrite.path, route.match) : null;
    this.redirectPath = route.redirect?.path ? new CompiledPathRewrite(route.redirect.path, route.match) : null;
  }

  static of(route: Route): RouteFilters | null {
    if (!route.redirect && !route.responseHeaders && !route.mirrors?.length && !route.requestHeaders && !route.rewrite) return null;
    return new RouteFilters(route);
  }

  /** Whether the request head differs from the plain forwarded one. */
  get changesRequest(): boolean {
    return this.requestHeaders !== null || this.hostRewrite !== null || this.pathRewrite !== null;
  }

  /** The upstream head with the rewrite and the request header modifier applied. */
  requestHead(req: IncomingMessage, defaultHost: string, markHttp1 = false): RequestHead {
    if (!this.changesRequest) return buildRequestHead(req, defaultHost, markHttp1);
    let raw = req.rawHeaders;
    if (this.hostRewrite !== null) raw = applyHeaderMutation(raw, { set: [['host', this.hostRewrite]], add: [], remove: [] });
    if (this.requestHeaders !== null) raw = applyHeaderMutation(raw, this.requestHeaders);
    const url = this.pathRewrite === null ? req.url ?? '/' : this.pathRewrite.apply(req.url ?? '/');
    // buildRequestHead reads these four fields only
    const view = { method: req.method, url, rawHeaders: raw, socket: req.socket } as unknown as IncomingMessage;
    return buildRequestHead(view, defaultHost, markHttp1);
  }

  /** Answers with the redirect (and the route's response header modifier). */
  respondRedirect(req: IncomingMessage, res: ServerResponse, closeConnection: boolean): void {
    let headers = ['location', this.location(req), 'content-length', '0'];
    if (closeConnection) headers.push('connection', 'close');
    if (this.responseHeaders !== null) headers = applyHeaderMutation(headers, this.responseHeaders);
    res.writeHead(this.redirect!.statusCode, headers as unknown as OutgoingHttpHeaders);
    res.end();
  }

  /**
   * Sends the copies this request gets (each mirror by its percentage). Returns those still
   * waiting for the request body; a request without one is complete already.
   */
  startMirrors(clusters: { get(name: string): Cluster | undefined }, head: string, framing: BodyFraming, isHead: boolean, random: () => number): RequestMirror[] {
    const out: RequestMirror[] = [];
    for (const m of this.mirrors!) {
      if (m.percent < 100 && random() * 100 >= m.percent) continue;
      const cluster = clusters.get(m.cluster);
      if (cluster === undefined) continue;
      const copy = RequestMirror.start(cluster, head, isHead, framing);
      if (copy !== null && framing !== 'none') out.push(copy);
    }
    return out;
  }

  /** The Location of a redirect (Gateway API RequestRedirect), from the request as received. */
  location(req: IncomingMessage): string {
    const r = this.redirect!;
    const hostHeader = hostOf(req.rawHeaders) ?? '';
    const { host, port } = splitHost(hostHeader);
    const scheme = r.scheme ?? 'http';
    // Gateway API: with a new scheme the port becomes that scheme's own (and is left out); else it is kept
    let outPort = r.port ?? (r.scheme !== undefined ? undefined : port);
    if (outPort !== undefined && outPort === wellKnownPort[scheme]) outPort = undefined;
    const url = req.url ?? '/';
    const target = this.redirectPath === null ? url : this.redirectPath.apply(url);
    return `${scheme}://${r.host ?? host}${outPort === undefined ? '' : `:${outPort}`}${target}`;
  }
}

const wellKnownPort: Record<string, number> = { http: 80, https: 443 };

function splitHost(h: string): { host: string; port: number | undefined } {
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    const port = h.charCodeAt(end + 1) === 58 ? Number(h.slice(end + 2)) : undefined;
    return { host: h.slice(0, end + 1), port: Number.isInteger(port) ? port : undefined };
  }
  const colon = h.lastIndexOf(':');
  if (colon === -1) return { host: h, port: undefined };
  const port = Number(h.slice(colon + 1));
  return { host: h.slice(0, colon), port: Number.isInteger(port) && port > 0 ? port : undefined };
}
