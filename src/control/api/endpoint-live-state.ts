// The live state of each endpoint as the sidecars see it (outlier ejections, in-flight requests,
// peak-EWMA cost): fetched from every connected sidecar's admin `GET /endpoints`, in parallel,
// with a short timeout, and cached briefly so a busy dashboard does not poll the mesh.
import type { Instance } from '../registry.js';

/** One row of a sidecar's `GET /endpoints`: its view of one endpoint of one cluster. */
export interface SidecarEndpointState {
  cluster: string;
  address: string;
  port: number;
  state: 'healthy' | 'ejected' | 'draining';
  ejectedUntil: string | number | null;
  inFlight: number | null;
  ewmaMs: number | null;
}

/** What the API adds to an endpoint row, merged over every sidecar that reported it. */
export interface EndpointLiveState {
  ejected: boolean;
  /** ISO time, the latest among the sidecars that ejected it. */
  ejectedUntil: string | null;
  /** Summed over the sidecars that reported it: the endpoint's total load from the mesh. */
  inFlight: number | null;
  /** Averaged over the sidecars that have a value (a sidecar that never called it has none). */
  ewmaMs: number | null;
}

export type AdminFetch = (url: string, timeoutMs: number) => Promise<unknown>;

async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

export interface EndpointStateOptions {
  fetch?: AdminFetch;
  timeoutMs?: number;
  cacheMs?: number;
  now?: () => number;
}

export function endpointKey(cluster: string, address: string, port: number): string {
  return `${cluster}|${address}:${port}`;
}

function isRow(v: unknown): v is SidecarEndpointState {
  const r = v as SidecarEndpointState;
  return typeof r === 'object' && r !== null && typeof r.cluster === 'string' && typeof r.address === 'string' && typeof r.port === 'number';
}

function toIso(t: string | number | null | undefined): string | null {
  if (t === null || t === undefined) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Merges the sidecars' reports into one state per endpoint (see EndpointLiveState for how). */
export function mergeEndpointStates(reports: readonly (readonly SidecarEndpointState[])[]): Map<string, EndpointLiveState> {
  const acc = new Map<string, EndpointLiveState & { ewmaSum: number; ewmaCount: number }>();
  for (const report of reports) {
    for (const row of report) {
      const key = endpointKey(row.cluster, row.address, row.port);
      let s = acc.get(key);
      if (!s) {
        s = { ejected: false, ejectedUntil: null, inFlight: null, ewmaMs: null, ewmaSum: 0, ewmaCount: 0 };
        acc.set(key, s);
      }
      if (row.state === 'ejected') {
        s.ejected = true;
        const until = toIso(row.ejectedUntil);
        if (until && (!s.ejectedUntil || until > s.ejectedUntil)) s.ejectedUntil = until;
      }
      if (typeof row.inFlight === 'number') s.inFlight = (s.inFlight ?? 0) + row.inFlight;
      if (typeof row.ewmaMs === 'number' && Number.isFinite(row.ewmaMs)) {
        s.ewmaSum += row.ewmaMs;
        s.ewmaCount++;
      }
    }
  }
  const out = new Map<string, EndpointLiveState>();
  for (const [key, s] of acc) {
    out.set(key, { ejected: s.ejected, ejectedUntil: s.ejectedUntil, inFlight: s.inFlight, ewmaMs: s.ewmaCount ? s.ewmaSum / s.ewmaCount : null });
  }
  return out;
}

/** Collects and caches the merged live state; a sidecar that does not answer in time is left out. */
export class EndpointStateCollector {
  private readonly fetch: AdminFetch;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private cached?: { at: number; states: Promise<Map<string, EndpointLiveState>> };

  constructor(opts: EndpointStateOptions = {}) {
    this.fetch = opts.fetch ?? fetchJson;
    this.timeoutMs = opts.timeoutMs ?? 500;
    this.cacheMs = opts.cacheMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  states(instances: readonly Instance[]): Promise<Map<string, EndpointLiveState>> {
    const now = this.now();
    // concurrent callers within the cache time share one round of requests
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.states;
    const states = this.collect(instances);
    this.cached = { at: now, states };
    return states;
  }

  private async collect(instances: readonly Instance[]): Promise<Map<string, EndpointLiveState>> {
    const connected = instances.filter((i) => i.connected && i.adminPort > 0);
    const settled = await Promise.allSettled(connected.map((i) => this.fetch(`http://${hostPort(i.address, i.adminPort)}/endpoints`, this.timeoutMs)));
    const reports: SidecarEndpointState[][] = [];
    for (const r of settled) {
      if (r.status === 'fulfilled' && Array.isArray(r.value)) reports.push(r.value.filter(isRow));
    }
    return mergeEndpointStates(reports);
  }
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
