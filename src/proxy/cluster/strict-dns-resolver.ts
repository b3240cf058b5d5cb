// The endpoints of a STRICT_DNS cluster (Envoy's): each target whose address is a host name
// stands for every address the name resolves to, at the target's port, weight and labels. The
// names are looked up at once and again every refreshMs, with the system resolver (getaddrinfo,
// so /etc/hosts counts as it does for the apps; it gives no TTL, so the refresh rate rules).
// A changed set replaces the cluster's endpoints (hosts that stay keep their pools and state);
// a failed or empty lookup keeps the name's last good addresses, so a DNS outage does not empty
// the cluster. Lookups and failures are counted per cluster.
import dns from 'node:dns';
import { isIP } from 'node:net';
import type { DnsDiscovery, DnsLookupFamily, EndpointConfig } from '../config/proxy-config.js';
import { systemClock, type ResilienceClock } from './resilience/resilience-clock.js';

/** Every address of a host name (both families); throws when the name does not resolve. */
export type HostLookup = (hostname: string) => Promise<string[]>;

export const systemLookup: HostLookup = async (hostname) =>
  (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export interface DnsCounters {
  lookups: { inc(): void };
  failures: { inc(): void };
}

export interface StrictDnsResolverOptions {
  lookup?: HostLookup;
  /** Called with the new endpoint list whenever a refresh changed it. */
  onChange: (endpoints: EndpointConfig[]) => void;
  counters?: DnsCounters;
  /** Schedules the refreshes; a manual clock in tests. */
  clock?: ResilienceClock;
}

/** The addresses a lookup family keeps, in the resolver's order (Envoy's dns_lookup_family). */
export function pickFamily(addresses: readonly string[], family: DnsLookupFamily): string[] {
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  switch (family) {
    case 'v4-only': return v4;
    case 'v6-only': return v6;
    case 'v4-preferred': return v4.length > 0 ? v4 : v6;
    case 'auto': return v6.length > 0 ? v6 : v4;
    case 'all': return [...v4, ...v6];
  }
}

function refreshNow(r: StrictDnsResolver): void {
  void r.refresh();
}

export class StrictDnsResolver {
  private discovery: DnsDiscovery | null = null;
  private print = '';
  /** Last good addresses of each host name (after the family filter). */
  private readonly resolved = new Map<string, string[]>();
  private timer: unknown = null;
  private running: Promise<void> = Promise.resolve();
  private generation = 0;
  private closed = false;
  private readonly lookup: HostLookup;
  private readonly clock: ResilienceClock;
  /** The endpoints now: IP targets as they are, host names as last resolved. */
  endpoints: EndpointConfig[] = [];

  constructor(private readonly opts: StrictDnsResolverOptions) {
    this.lookup = opts.lookup ?? systemLookup;
    this.clock = opts.clock ?? systemClock;
  }

  /** Takes the cluster's (new) targets; a change resolves at once. Returns the endpoints known now. */
  configure(discovery: DnsDiscovery): EndpointConfig[] {
    const print = JSON.stringify(discovery);
    if (print === this.print) return this.endpoints;
    this.print = print;
    this.discovery = discovery;
    const names = new Set(discovery.targets.map((t) => t.address));
    for (const name of this.resolved.keys()) if (!names.has(name)) this.resolved.delete(name);
    this.endpoints = this.build();
    void this.refresh();
    return this.endpoints;
  }

  /** Resolves every host name now and schedules the next round; resolves when this round is applied. */
  refresh(): Promise<void> {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    const generation = ++this.generation;
    this.running = this.resolveAll().then(() => {
      if (this.closed || generation !== this.generation) return;
      const next = this.build();
      if (JSON.stringify(next) !== JSON.stringify(this.endpoints)) {
        this.endpoints = next;
        this.opts.onChange(next);
      }
      this.timer = this.clock.setTimer(refreshNow, this.discovery!.refreshMs, this);
      (this.timer as { unref?: () => void }).unref?.();
    });
    return this.running;
  }

  /** Resolves when the round in progress (if any) is applied. */
  settled(): Promise<void> {
    return this.running;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private async resolveAll(): Promise<void> {
    const d = this.discovery;
    if (d === null) return;
    const names = [...new Set(d.targets.map((t) => t.address).filter((a) => isIP(a) === 0))];
    await Promise.all(names.map(async (name) => {
      this.opts.counters?.lookups.inc();
      try {
        const found = [...new Set(pickFamily(await this.lookup(name), d.family))];
        if (found.length === 0) throw new Error(`${name} has no address of the wanted family`);
        this.resolved.set(name, found);
      } catch {
        // keep the last good set: a resolver hiccup must not empty the cluster
        this.opts.counters?.failures.inc();
      }
    }));
  }

  private build(): EndpointConfig[] {
    const out: EndpointConfig[] = [];
    const seen = new Set<string>();
    const add = (e: EndpointConfig) => {
      const key = `${e.address}:${e.port}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(e);
    };
    for (const t of this.discovery?.targets ?? []) {
      if (isIP(t.address) !== 0) {
        add(t);
        continue;
      }
      // the name stays visible (admin, trellis get endpoints) as a label of what it resolved to
      for (const address of this.resolved.get(t.address) ?? []) add({ ...t, address, labels: { ...t.labels, hostname: t.address } });
    }
    return out;
  }
}
