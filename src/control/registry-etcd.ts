import type { Etcd3, IKeyValue, IWatchResponse, Lease, Watcher } from 'etcd3';
import type { Logger } from '../common/log.js';
import { systemClock, type Clock } from './clock.js';
import type { Instance, Registry } from './registry.js';

export interface RegistryShareOptions {
  client: Etcd3;
  /** The store's key prefix, ending in `/`; instances live under `<prefix>instances/<replica>/<proxy>`. */
  prefix: string;
  /** Names this replica's keys; unique among the replicas sharing the prefix. */
  replicaId: string;
  registry: Registry;
  /** The registry's grace period: the lease TTL, and how long a dead replica's instances are kept. */
  graceMs: number;
  logger: Logger;
  clock?: Clock;
  /** Coalesces bursts of local changes (connects, ACKs) into one round of writes. */
  flushDelayMs?: number;
}

interface Lingering {
  instance: Instance;
  timer: unknown;
}

/**
 * Shares the registry between control-plane replicas: each replica writes the instances whose
 * streams it holds to etcd under a lease of its own, and watches everyone else's, which it hands
 * to its registry as remote instances. Endpoints learned by one replica are thus served by all,
 * and any replica's API shows every proxy's xDS progress. A replica that dies stops renewing its
 * lease; its keys vanish with it, and the others keep its instances as `restored` for one grace
 * period, as a restarted control plane does with its registry file: those sidecars are still
 * serving and may reconnect elsewhere.
 */
export class EtcdRegistryShare {
  private readonly root: string;
  private readonly own: string;
  private readonly clock: Clock;
  private readonly remote = new Map<string, Instance>();
  private readonly lingering = new Map<string, Lingering>();
  /** What this replica last wrote for each of its keys. */
  private readonly published = new Map<string, string>();
  private lease?: Lease;
  private watcher?: Watcher;
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private routingSignature = '';
  private failing = false;
  private closed = false;
  private readonly unsubscribe: (() => void)[] = [];

  private constructor(private readonly opts: RegistryShareOptions) {
    this.root = `${opts.prefix}instances/`;
    this.own = `${this.root}${encodeURIComponent(opts.replicaId)}/`;
    this.clock = opts.clock ?? systemClock;
  }

  static async start(opts: RegistryShareOptions): Promise<EtcdRegistryShare> {
    const share = new EtcdRegistryShare(opts);
    try {
      await share.begin();
    } catch (err) {
      await share.close();
      throw err;
    }
    return share;
  }

  /** Stops sharing and revokes the lease, so other replicas learn at once that this one is gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe) u();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const l of this.lingering.values()) this.clock.clearTimeout(l.timer);
    await this.flushing;
    await this.watcher?.cancel().catch(() => undefined);
    await this.lease?.revoke().catch(() => undefined);
  }

  private async begin(): Promise<void> {
    const res = await this.opts.client.getAll().prefix(this.root).exec();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      // keys of this replica's previous run: rewritten or deleted by the first flush
      if (key.startsWith(this.own)) this.published.set(key, '');
      else this.putRemote(key, kv);
    }
    this.publishRemote();
    this.watcher = await this.opts.client.watch().prefix(this.root).startRevision((BigInt(res.header.revision) + 1n).toString()).create();
    this.watcher.on('data', (r: IWatchResponse) => this.onWatch(r));
    // after etcd came back the stream resumes where it stopped, but a full read also catches leases that expired meanwhile
    this.watcher.on('connected', () => void this.resync());
    this.watcher.on('error', (err: Error) => {
      this.opts.logger.warn({ err }, 'etcd registry watch failed; reading the shared registry again');
      void this.resync();
    });
    this.newLease();
    this.unsubscribe.push(this.opts.registry.onChange(() => this.scheduleFlush()), this.opts.registry.onStatus(() => this.scheduleFlush()));
    await this.flush();
  }

  private newLease(): void {
    const ttl = Math.max(2, Math.ceil(this.opts.graceMs / 1000));
    const lease = this.opts.client.lease(ttl);
    this.lease = lease;
    lease.on('lost', (err: Error) => {
      if (this.closed || this.lease !== lease) return;
      // etcd was unreachable for longer than the TTL: its keys are gone, so write them all again
      this.opts.logger.warn({ err }, 'lost the etcd lease of this replica\'s instances; re-registering them');
      this.published.clear();
      this.newLease();
      this.scheduleFlush(1000);
    });
  }

  private scheduleFlush(delayMs = this.opts.flushDelayMs ?? 50): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delayMs);
    this.flushTimer.unref();
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.closed) return;
      const lease = this.lease;
      if (!lease) return;
      const wanted = new Map(this.opts.registry.localList().map((i) => [this.own + encodeURIComponent(i.proxyId), JSON.stringify(i)]));
      const writes: Promise<unknown>[] = [];
      for (const [key, value] of wanted) {
        if (this.published.get(key) === value) continue;
        writes.push(lease.put(key).value(value).exec().then(() => this.published.set(key, value)));
      }
      for (const key of this.published.keys()) {
        if (!wanted.has(key)) writes.push(this.opts.client.delete().key(key).exec().then(() => this.published.delete(key)));
      }
      const results = await Promise.allSettled(writes);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        if (!this.failing) this.opts.logger.warn({ err: failed.reason }, 'cannot share this replica\'s instances in etcd; retrying');
        this.failing = true;
        this.scheduleFlush(1000);
      } else if (this.failing) {
        this.failing = false;
        this.opts.logger.info('sharing this replica\'s instances in etcd again');
      }
    });
    return this.flushing;
  }

  private onWatch(res: IWatchResponse): void {
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (key.startsWith(this.own)) continue;
      if (ev.type === 'Put') this.putRemote(key, ev.kv);
      else this.removeRemote(key);
    }
    this.publishRemote();
  }

  private async resync(): Promise<void> {
    try {
      const res = await this.opts.client.getAll().prefix(this.root).exec();
      const seen = new Set<string>();
      for (const kv of res.kvs) {
        const key = kv.key.toString();
        if (key.startsWith(this.own)) continue;
        seen.add(key);
        this.putRemote(key, kv);
      }
      for (const key of [...this.remote.keys()]) if (!seen.has(key)) this.removeRemote(key);
      this.publishRemote();
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot read the shared registry');
    }
  }

  private putRemote(key: string, kv: IKeyValue): void {
    let inst: Instance;
    try {
      inst = JSON.parse(kv.value.toString()) as Instance;
      if (typeof inst?.proxyId !== 'string' || typeof inst.service !== 'string') throw new Error('not an instance');
    } catch (err) {
      this.opts.logger.warn({ key, err }, 'ignoring an unreadable instance in etcd');
      return;
    }
    const l = this.lingering.get(key);
    if (l) {
      this.clock.clearTimeout(l.timer);
      this.lingering.delete(key);
    }
    this.remote.set(key, inst);
  }

  /** A draining instance removed by its replica is gone; one that vanished with its replica's lease lingers. */
  private removeRemote(key: string): void {
    const inst = this.remote.get(key);
    this.remote.delete(key);
    if (!inst || inst.state === 'draining') return;
    const instance: Instance = { ...inst, state: 'restored', connected: false };
    const timer = this.clock.setTimeout(() => {
      this.lingering.delete(key);
      this.publishRemote();
    }, this.opts.graceMs);
    this.lingering.set(key, { instance, timer });
  }

  /** One instance per proxy (a connected one wins, then the newest), handed to the registry. */
  private publishRemote(): void {
    if (this.closed) return;
    const byProxy = new Map<string, Instance>();
    const candidates = [...this.remote.values(), ...[...this.lingering.values()].map((l) => l.instance)];
    for (const inst of candidates) {
      const other = byProxy.get(inst.proxyId);
      if (!other || rank(inst) > rank(other) || (rank(inst) === rank(other) && inst.connectedAt > other.connectedAt)) byProxy.set(inst.proxyId, inst);
    }
    const list = [...byProxy.values()];
    const signature = JSON.stringify(list.map(routingView).sort((a, b) => (a.proxyId < b.proxyId ? -1 : 1)));
    const routing = signature !== this.routingSignature;
    this.routingSignature = signature;
    this.opts.registry.setRemote(list, routing);
  }
}

function rank(i: Instance): number {
  return i.connected ? 2 : i.state === 'draining' ? 0 : 1;
}

/** What the compiler reads of an instance: everything but xDS progress and which replica holds it. */
function routingView(i: Instance): Omit<Instance, 'sentVersion' | 'ackedVersion' | 'lastNack' | 'sentRevision' | 'ackedRevision' | 'controlReplica'> {
  const { sentVersion: _s, ackedVersion: _a, lastNack: _n, sentRevision: _sr, ackedRevision: _ar, controlReplica: _c, ...rest } = i;
  return rest;
}
