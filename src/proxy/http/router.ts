// Host → virtual host → route → weighted cluster, compiled once per config so a request costs
// a cached Map lookup, a few startsWith checks and at most one random number.
import type { Route, RouteTable, VirtualHost, WeightedCluster } from '../config/proxy-config.js';

export type RandomSource = () => number; // [0, 1)

export class CompiledRoute {
  readonly name: string;
  readonly timeoutMs: number;
  readonly clusters: readonly WeightedCluster[];
  /** The route as configured, for the policies the data path compiles from it (retry, fault). */
  readonly config: Route;
  private readonly matchExact: boolean;
  private readonly matchValue: string;
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
    this.matchExact = route.match.kind === 'exact';
    this.matchValue = route.match.value;
    this.cumulative = [];
    let sum = 0;
    for (const c of this.clusters) {
      sum += Math.max(0, Math.floor(c.weight));
      this.cumulative.push(sum);
    }
    this.totalWeight = sum;
    this.single = this.clusters.length === 1 ? this.clusters[0].cluster : null;
  }

  /** `url` is the request target; its query string never takes part in the match. */
  matches(url: string): boolean {
    const v = this.matchValue;
    if (!url.startsWith(v)) return false;
    if (this.matchExact) {
      return url.length === v.length || url.charCodeAt(v.length) === 63 /* ? */;
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

  route(url: string): CompiledRoute | null {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(url)) return routes[i];
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
    const vh = this.lookup(normalizeHost(key));
    if (this.hostCache.size >= hostCacheLimit) this.hostCache.clear();
    this.hostCache.set(key, vh);
    return vh;
  }

  route(host: string | undefined, url: string): CompiledRoute | null {
    const vh = this.virtualHost(host);
    return vh === null ? null : vh.route(url);
  }

  private lookup(host: string): CompiledVirtualHost | null {
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const s of this.suffixes) if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vh;
    for (const p of this.prefixes) if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vh;
    return this.fallback;
  }
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
