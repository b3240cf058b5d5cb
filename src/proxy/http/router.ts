// Host → virtual host → route → weighted cluster, compiled once per config so a request costs
// a cached Map lookup, a few startsWith checks and at most one random number. Regexes, header
// and query matches are compiled here too, once per config; a route without them costs nothing more.
import type { IncomingHttpHeaders } from 'node:http';
import type { Route, RouteTable, VirtualHost, WeightedCluster } from '../config/proxy-config.js';
import { compileRe2 } from '../../resources/http-route-regex.js';
import { RouteFilters } from './route-filters.js';

/** What a route may look at besides host and path. */
export interface RoutedRequest {
  readonly method?: string;
  readonly headers: IncomingHttpHeaders;
}

/** A header or query condition compiled once: exact compare, or a full-match regex. */
class ValueCondition {
  private readonly regex: RegExp | null;
  constructor(readonly name: string, kind: 'exact' | 'regex', private readonly value: string) {
    this.regex = kind === 'regex' ? compileRe2(value) : null;
  }

  test(v: string | undefined): boolean {
    if (v === undefined) return false;
    return this.regex === null ? v === this.value : this.regex.test(v);
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  // Gateway API: repeated headers are matched as their comma-joined value (Node joins them, except set-cookie)
  return Array.isArray(v) ? v.join(',') : v;
}

/** The first value of each query parameter (Gateway API: only the first counts), decoded. */
function queryValue(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const params = new URLSearchParams(url.slice(q + 1));
  return params.get(name) ?? undefined;
}

export type RandomSource = () => number; // [0, 1)

export class CompiledRoute {
  readonly name: string;
  readonly timeoutMs: number;
  readonly clusters: readonly WeightedCluster[];
  /** The route as configured, for the policies the data path compiles from it (retry, fault). */
  readonly config: Route;
  private readonly matchKind: 'prefix' | 'exact' | 'segment-prefix' | 'regex';
  private readonly matchValue: string;
  private readonly pathRegex: RegExp | null;
  private readonly method: string | null;
  private readonly headerConditions: ValueCondition[] | null;
  private readonly queryConditions: ValueCondition[] | null;
  /** Header changes, redirect, rewrite and mirrors; null when the route has none. */
  readonly filters: RouteFilters | null;
  private readonly cumulative: number[];
  private readonly totalWeight: number;
  private readonly single: string | null;
  /** Per-route, per-cluster state the data path hangs here (e.g. bound metric children). */
  readonly stats = new Map<string, unknown>();

  constructor(route: Route, private readonly random: RandomSource) {
    this.name = route.name;
    this.timeoutMs = route.timeoutMs;
    this.config = route;
    this.clusters = route.clusters.filter((c) => c.weight > 0 || route.clusters.length === 1);
    this.matchKind = route.match.kind;
    this.matchValue = route.match.value;
    this.pathRegex = route.match.kind === 'regex' ? compileRe2(route.match.value) : null;
    this.method = route.method ?? null;
    this.headerConditions = route.headers?.length ? route.headers.map((h) => new ValueCondition(h.name.toLowerCase(), h.kind, h.value)) : null;
    this.queryConditions = route.queryParams?.length ? route.queryParams.map((h) => new ValueCondition(h.name, h.kind, h.value)) : null;
    this.filters = RouteFilters.of(route);
    this.cumulative = [];
    let sum = 0;
    for (const c of this.clusters) {
      sum += Math.max(0, Math.floor(c.weight));
      this.cumulative.push(sum);
    }
    this.totalWeight = sum;
    this.single = this.clusters.length === 1 ? this.clusters[0].cluster : null;
  }

  /**
   * `url` is the request target; the path match never looks at its query string. Method,
   * header and query conditions need `req`; without it a route that has them does not match.
   */
  matches(url: string, req?: RoutedRequest): boolean {
    if (!this.matchesPath(url)) return false;
    if (this.method !== null && (req === undefined || req.method !== this.method)) return false;
    const hc = this.headerConditions;
    if (hc !== null) {
      if (req === undefined) return false;
      for (let i = 0; i < hc.length; i++) if (!hc[i].test(headerValue(req.headers, hc[i].name))) return false;
    }
    const qc = this.queryConditions;
    if (qc !== null) {
      for (let i = 0; i < qc.length; i++) if (!qc[i].test(queryValue(url, qc[i].name))) return false;
    }
    return true;
  }

  private matchesPath(url: string): boolean {
    const v = this.matchValue;
    if (this.pathRegex !== null) {
      const q = url.indexOf('?');
      return this.pathRegex.test(q === -1 ? url : url.slice(0, q));
    }
    if (!url.startsWith(v)) return false;
    const kind = this.matchKind;
    if (kind === 'exact') {
      return url.length === v.length || url.charCodeAt(v.length) === 63 /* ? */;
    }
    if (kind === 'segment-prefix') {
      // whole segments: "/a" matches "/a", "/a/...", "/a?..." but not "/ab"
      if (url.length === v.length) return true;
      const c = url.charCodeAt(v.length);
      return c === 47 /* / */ || c === 63 /* ? */ || v === '/';
    }
    // A prefix must not reach into the query: "/a?b" is matched by "/a" but not by "/a?".
    const q = url.indexOf('?');
    return q === -1 || q >= v.length;
  }

  /** Cluster name for this request, weighted; null when the route has no usable cluster. */
  pickCluster(): string | null {
    if (this.single !== null) return this.single;
    if (this.totalWeight <= 0) return null;
    const r = Math.floor(this.random() * this.totalWeight);
    const cum = this.cumulative;
    for (let i = 0; i < cum.length; i++) if (r < cum[i]) return this.clusters[i].cluster;
    return this.clusters[this.clusters.length - 1].cluster;
  }
}

export class CompiledVirtualHost {
  readonly name: string;
  readonly routes: CompiledRoute[];
  constructor(vh: VirtualHost, random: RandomSource) {
    this.name = vh.name;
    this.routes = vh.routes.map((r) => new CompiledRoute(r, random));
  }

  route(url: string, req?: RoutedRequest): CompiledRoute | null {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(url, req)) return routes[i];
    return null;
  }
}

const hostCacheLimit = 1024;

export class Router {
  readonly name: string;
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: Array<{ suffix: string; vh: CompiledVirtualHost }> = [];
  private readonly prefixes: Array<{ prefix: string; vh: CompiledVirtualHost }> = [];
  private fallback: CompiledVirtualHost | null = null;
  /** Raw Host header → virtual host; hosts repeat, so normalizing each one once is enough. */
  private readonly hostCache = new Map<string, CompiledVirtualHost | null>();

  constructor(table: RouteTable, random: RandomSource = Math.random) {
    this.name = table.name;
    for (const vh of table.virtualHosts) {
      const compiled = new CompiledVirtualHost(vh, random);
      for (const raw of vh.domains) {
        const d = raw.toLowerCase();
        // The first virtual host that claims a domain wins, as in Envoy (duplicates are a config error there).
        if (d === '*') this.fallback ??= compiled;
        else if (d.startsWith('*')) this.suffixes.push({ suffix: d.slice(1), vh: compiled });
        else if (d.endsWith('*')) this.prefixes.push({ prefix: d.slice(0, -1), vh: compiled });
        else if (!this.exact.has(d)) this.exact.set(d, compiled);
      }
    }
    // Longest wildcard wins, as in Envoy; a stable sort keeps config order among equals.
    this.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  virtualHost(host: string | undefined): CompiledVirtualHost | null {
    const key = host ?? '';
    const cached = this.hostCache.get(key);
    if (cached !== undefined) return cached;
    // a domain with the port (`name:8443`, an external service's second port) before the name alone
    const withPort = hostWithPort(key);
    const vh = (withPort !== null ? this.exact.get(withPort) : undefined) ?? this.lookup(normalizeHost(key));
    if (this.hostCache.size >= hostCacheLimit) this.hostCache.clear();
    this.hostCache.set(key, vh);
    return vh;
  }

  route(host: string | undefined, url: string, req?: RoutedRequest): CompiledRoute | null {
    const vh = this.virtualHost(host);
    return vh === null ? null : vh.route(url, req);
  }

  private lookup(host: string): CompiledVirtualHost | null {
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const s of this.suffixes) if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vh;
    for (const p of this.prefixes) if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vh;
    return this.fallback;
  }
}

/** Lower-cased `name:port` without a trailing dot on the name, or null when the Host has no port. */
export function hostWithPort(host: string): string | null {
  const h = host.trim().toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon === -1 || (h.startsWith('[') && h.lastIndexOf(']') > colon)) return null;
  const name = h.slice(0, colon);
  return `${name.endsWith('.') ? name.slice(0, -1) : name}${h.slice(colon)}`;
}

/** Lower-cases and strips the port, keeping IPv6 literals ("[::1]:80" → "[::1]") intact. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}
