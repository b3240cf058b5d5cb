import { Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import type { Logger } from '../../common/log.js';
import { kinds, resourceKey, type Kind, type Resource } from '../../resources/kinds.js';
import { validateDocument } from '../../resources/validate.js';
import { parseEtcdUrl } from './etcd-url.js';
import { planApply } from './resource-diff.js';
import { StoreUnavailableError } from './store-unavailable.js';
import { registerStore, type ApplyOutcome, type Store, type StoreChange, type StoreHealth, type StoreOptions, type StoredResource } from './store.js';

export interface EtcdStoreOptions {
  /** `http://host:port` of each member; the client spreads calls over them and skips dead ones. */
  hosts: string[];
  /** Key prefix, ending in `/`. */
  prefix?: string;
  now?: () => Date;
  logger?: Logger;
  /** How often etcd is probed with a quorum read to notice losing and regaining it. */
  probeIntervalMs?: number;
  /** Deadline of each unary etcd call. */
  callTimeoutMs?: number;
  /** How many times a write is retried after losing a race with another writer. */
  maxConflicts?: number;
  /** How long a new watch may take to be created (across member failures) before the store reports itself unsynced. */
  watchTimeoutMs?: number;
}

interface Entry {
  resource: StoredResource;
  mod: bigint;
}

/** A consistent read of everything the store holds, at one etcd revision. */
interface Snapshot {
  entries: Map<string, Entry>;
  revision: number;
  revisionMod: bigint;
  header: bigint;
}

/**
 * The store shared by several control-plane replicas. Each resource is a key under
 * `<prefix>store/resources/`; `<prefix>store/revision` counts committed changes. Every write is
 * one transaction that commits only if neither the revision key nor any key it touches moved
 * since it was read, and is recomputed and retried otherwise: two replicas writing at once never
 * overwrite each other's change. A watch keeps each replica's in-memory copy current; reads are
 * served from it, so a replica that loses etcd keeps serving its last state, read-only.
 *
 * The watch is never left to the client's own reconnection: after a long outage its backoff
 * reaches 30 s, and a replica that says it is healthy would miss the others' writes meanwhile.
 * Whenever the watch breaks, the store reads everything again and watches from just after that
 * read; it reports itself writable again only once that new watch is live.
 */
export class EtcdStore implements Store {
  readonly client: Etcd3;
  readonly prefix: string;
  private readonly storePrefix: string;
  private readonly resourcePrefix: string;
  private readonly revisionKey: string;
  private entries = new Map<string, Entry>();
  private rev = 0;
  private revMod = 0n;
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private watcher?: Watcher;
  private probeTimer?: NodeJS.Timeout;
  private probing?: Promise<void>;
  private resyncing?: Promise<void>;
  private writable = true;
  private reason?: string;
  private closed = false;
  private readonly now: () => Date;
  private readonly logger?: Logger;

  private constructor(private readonly opts: EtcdStoreOptions) {
    this.prefix = opts.prefix ?? '/trellis/';
    this.storePrefix = `${this.prefix}store/`;
    this.resourcePrefix = `${this.storePrefix}resources/`;
    this.revisionKey = `${this.storePrefix}revision`;
    this.now = opts.now ?? (() => new Date());
    this.logger = opts.logger;
    const callTimeoutMs = opts.callTimeoutMs ?? 2000;
    this.client = new Etcd3({
      hosts: opts.hosts,
      dialTimeout: callTimeoutMs,
      // a call to a dead member must fail in bounded time so that the next member is tried
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    });
  }

  /** Connects, reads everything and starts watching; an unreachable etcd at start-up is an error. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const store = new EtcdStore(opts);
    try {
      await store.start();
    } catch (err) {
      await store.close();
      throw new Error(`cannot open the etcd store at ${opts.hosts.join(',')}: ${(err as Error).message}`);
    }
    return store;
  }

  get revision(): number {
    return this.rev;
  }

  health(): StoreHealth {
    return this.writable ? { writable: true } : { writable: false, reason: this.reason };
  }

  async list(kind?: Kind): Promise<StoredResource[]> {
    const out = [...this.entries.values()].map((e) => e.resource).filter((r) => !kind || r.kind === kind);
    return out.sort((a, b) => compareKeys(resourceKey(a), resourceKey(b)));
  }

  async get(kind: Kind, namespace: string, name: string): Promise<StoredResource | undefined> {
    return this.entries.get(`${kind}/${namespace}/${name}`)?.resource;
  }

  apply(resources: Resource[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome[]> {
    return this.write(async (snap) => {
      const { outcomes, changed } = planApply((key) => snap.entries.get(key)?.resource, resources, this.now().toISOString());
      if (opts.dryRun || changed.size === 0) return { result: outcomes };
      const txn = this.client.if(this.revisionKey, 'Mod', '==', snap.revisionMod.toString());
      for (const key of changed.keys()) txn.and(this.resourcePrefix + key, 'Mod', '==', (snap.entries.get(key)?.mod ?? 0n).toString());
      txn.then(
        ...[...changed].map(([key, r]) => this.client.put(this.resourcePrefix + key).value(JSON.stringify(r))),
        this.client.put(this.revisionKey).value(String(snap.revision + 1)),
      );
      return { result: outcomes, txn, changed, revision: snap.revision + 1 };
    });
  }

  delete(kind: Kind, namespace: string, name: string): Promise<boolean> {
    const key = `${kind}/${namespace}/${name}`;
    return this.write(async (snap) => {
      const entry = snap.entries.get(key);
      if (!entry) return { result: false };
      const txn = this.client
        .if(this.revisionKey, 'Mod', '==', snap.revisionMod.toString())
        .and(this.resourcePrefix + key, 'Mod', '==', entry.mod.toString())
        .then(this.client.delete().key(this.resourcePrefix + key), this.client.put(this.revisionKey).value(String(snap.revision + 1)));
      return { result: true, txn, changed: new Map([[key, null]]), revision: snap.revision + 1 };
    });
  }

  onChange(cb: (change: StoreChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    await this.probing?.catch(() => undefined);
    await this.resyncing?.catch(() => undefined);
    await this.watcher?.cancel().catch(() => undefined);
    this.listeners.clear();
    this.client.close();
  }

  private async start(): Promise<void> {
    await this.sync();
    this.scheduleProbe();
  }

  /**
   * Reads, plans and commits; a transaction that lost a race is planned again on a fresh read.
   * The committed change is applied to the local copy at once, so a reader on this replica sees
   * its own write; the watch event that follows is recognised by its mod revision and skipped.
   */
  private async write<T>(
    plan: (snap: Snapshot) => Promise<{ result: T; txn?: ReturnType<Etcd3['if']>; changed?: Map<string, StoredResource | null>; revision?: number }>,
  ): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    const attempts = this.opts.maxConflicts ?? 50;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!this.writable) throw new StoreUnavailableError(this.reason ?? 'etcd is unreachable');
      const snap = await this.guard(() => this.read());
      const p = await plan(snap);
      if (!p.txn) return p.result;
      const txn = p.txn;
      const res = await this.guard(() => txn.commit());
      if (res.succeeded) {
        const mod = BigInt(res.header.revision);
        let changed = false;
        for (const [key, r] of p.changed ?? []) changed = this.setEntry(key, r, mod) || changed;
        if (mod > this.revMod) {
          this.revMod = mod;
          this.rev = Math.max(this.rev, p.revision ?? this.rev);
        }
        if (changed) this.emit();
        return p.result;
      }
      // lost a race with another writer: back off a little, with jitter so two losers do not collide again
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * (attempt + 1))));
    }
    throw new Error(`gave up after ${attempts} conflicting concurrent writes; try again`);
  }

  /** Turns "etcd did not answer" into StoreUnavailableError (and read-only mode); other errors pass. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.retryOnConnectionError(fn);
    } catch (err) {
      if (isConnectionError(err)) {
        this.setWritable(false, (err as Error).message);
        throw new StoreUnavailableError((err as Error).message);
      }
      throw err;
    }
  }

  /**
   * The client picks a member at random for each call and stops picking a dead one only after
   * it failed a few times, so one dead member of three fails some calls: trying once per member
   * more tells a dead member from a lost quorum.
   */
  private async retryOnConnectionError<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = this.opts.hosts.length + 2;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isConnectionError(err) || attempt >= attempts || this.closed) throw err;
      }
    }
  }

  private async read(): Promise<Snapshot> {
    const res = await this.client.getAll().prefix(this.storePrefix).exec();
    const entries = new Map<string, Entry>();
    let revision = 0;
    let revisionMod = 0n;
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (key === this.revisionKey) {
        revision = Number(kv.value.toString()) || 0;
        revisionMod = BigInt(kv.mod_revision);
      } else if (key.startsWith(this.resourcePrefix)) {
        const resource = this.decode(kv);
        if (resource) entries.set(key.slice(this.resourcePrefix.length), { resource, mod: BigInt(kv.mod_revision) });
      }
    }
    return { entries, revision, revisionMod, header: BigInt(res.header.revision) };
  }

  /**
   * Adopts a fresh full read (at start and whenever the watch broke, so events may have been
   * missed). A key this replica wrote itself after the read was taken keeps its newer state.
   */
  private replace(snap: Snapshot): void {
    const before = this.signature();
    const entries = snap.entries;
    for (const [key, e] of this.entries) if (e.mod > snap.header) entries.set(key, e);
    this.entries = entries;
    if (this.revMod <= snap.header) {
      this.rev = snap.revision;
      this.revMod = snap.revisionMod;
    }
    if (this.signature() !== before) this.emit();
  }

  /** Reads everything, then watches from the revision right after that read; throws if either fails. */
  private async sync(): Promise<void> {
    this.dropWatch();
    const snap = await this.retryOnConnectionError(() => this.read());
    if (this.closed) return;
    this.replace(snap);
    await this.watch(snap.header + 1n);
    if (this.closed) this.dropWatch();
  }

  /**
   * Resolves once etcd confirmed the watch. The listeners are attached before it connects, so no
   * event that follows the creation is lost; only the current watcher's events are applied.
   */
  private watch(from: bigint): Promise<void> {
    const watcher = this.client.watch().prefix(this.storePrefix).startRevision(from.toString()).watcher();
    this.watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => {
      if (this.watcher === watcher) this.onWatch(res);
    });
    return new Promise<void>((resolve, reject) => {
      let live = false;
      const timeoutMs = this.opts.watchTimeoutMs ?? 5000;
      // until it is live, a lost stream is retried by the client (the member it tried may be the dead one)
      const timer = setTimeout(() => fail(new Error(`the etcd watch was not established within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        if (this.watcher === watcher) this.dropWatch();
        reject(err);
      };
      watcher.once('connected', () => {
        live = true;
        clearTimeout(timer);
        resolve();
      });
      // once live, a broken stream may have missed events: read again and watch anew
      watcher.on('disconnected', () => {
        if (live && this.watcher === watcher) void this.resync();
      });
      // e.g. a watch that can no longer resume (compacted history)
      watcher.on('error', (err: Error) => {
        if (!live) return fail(err);
        if (this.watcher !== watcher) return;
        this.logger?.warn({ err }, 'etcd watch failed; reading the store again');
        void this.resync();
      });
    });
  }

  private dropWatch(): void {
    const old = this.watcher;
    this.watcher = undefined;
    void old?.cancel().catch(() => undefined);
  }

  private onWatch(res: IWatchResponse): void {
    let changed = false;
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      const mod = BigInt(ev.kv.mod_revision);
      if (key === this.revisionKey) {
        if (ev.type === 'Put' && mod > this.revMod) {
          this.revMod = mod;
          this.rev = Number(ev.kv.value.toString()) || this.rev;
        }
      } else if (key.startsWith(this.resourcePrefix)) {
        const name = key.slice(this.resourcePrefix.length);
        changed = this.setEntry(name, ev.type === 'Put' ? this.decode(ev.kv) ?? null : null, mod) || changed;
      }
    }
    if (changed) this.emit();
  }

  /** Applies one key's new state unless the local copy already has it or something newer. */
  private setEntry(key: string, resource: StoredResource | null, mod: bigint): boolean {
    const current = this.entries.get(key);
    if (current && current.mod >= mod) return false;
    if (resource) this.entries.set(key, { resource, mod });
    else if (current) this.entries.delete(key);
    else return false;
    return true;
  }

  private decode(kv: IKeyValue): StoredResource | undefined {
    const key = kv.key.toString();
    try {
      const raw = JSON.parse(kv.value.toString()) as StoredResource;
      if (typeof raw?.kind !== 'string' || !(raw.kind in kinds)) throw new Error(`unknown kind ${JSON.stringify(raw?.kind)}`);
      const checked = validateDocument(raw, key, 1);
      if (!checked.resource) throw new Error(checked.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
      const meta = raw.metadata;
      return { ...checked.resource, metadata: { ...checked.resource.metadata, generation: meta.generation, creationTimestamp: meta.creationTimestamp } } as StoredResource;
    } catch (err) {
      // one bad key (written by hand, or by a newer version) must not take the others down
      this.logger?.error({ key, err }, 'ignoring an unreadable resource in etcd');
      return undefined;
    }
  }

  private emit(): void {
    for (const cb of this.listeners) {
      try {
        cb({ revision: this.rev });
      } catch {
        // a faulty subscriber must not undo a committed write
      }
    }
  }

  private signature(): string {
    return [...this.entries].map(([k, e]) => `${k}@${e.mod}`).sort().join(',');
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probeTimer = setTimeout(() => {
      void this.probeNow().finally(() => this.scheduleProbe());
    }, this.opts.probeIntervalMs ?? 1000);
    this.probeTimer.unref();
  }

  private probeNow(): Promise<void> {
    this.probing ??= this.probe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  /** A linearizable read needs a quorum: exactly what a write needs. */
  private async probe(): Promise<void> {
    try {
      await this.retryOnConnectionError(() => this.client.get(this.revisionKey).exec());
    } catch (err) {
      if (!this.closed) this.setWritable(false, (err as Error).message);
      return;
    }
    // a replica is writable, hence healthy, only while its watch is live
    if (!this.writable || !this.watcher) await this.resync();
  }

  /** One at a time: a full read and a new live watch, and only then writable again. */
  private resync(): Promise<void> {
    this.resyncing ??= this.resyncOnce().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async resyncOnce(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
      this.setWritable(true);
    } catch (err) {
      this.setWritable(false, (err as Error).message);
    }
  }

  private setWritable(writable: boolean, reason?: string): void {
    if (!writable) this.reason = `etcd unreachable: ${reason ?? 'unknown error'}`;
    if (this.closed || writable === this.writable) return;
    this.writable = writable;
    if (writable) this.reason = undefined;
    if (writable) this.logger?.info({ hosts: this.opts.hosts }, 'etcd reachable again; the store takes writes');
    else this.logger?.error({ hosts: this.opts.hosts, reason }, 'etcd unreachable; serving the last known state read-only');
  }
}

function isConnectionError(err: unknown): boolean {
  const name = (err as Error)?.constructor?.name ?? '';
  return /GRPCUnavailable|GRPCDeadlineExceeded|GRPCCancelled|GRPCGeneric|GRPCInternal|BrokenCircuit|Isolated|EtcdWatchStreamEnded/.test(name)
    || /deadline|unavailable|connect|breaker|no connection/i.test((err as Error)?.message ?? '');
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

registerStore('etcd', (opts: StoreOptions) => {
  if (!opts.url) return Promise.reject(new Error('the etcd store needs a URL: etcd://HOST:PORT[,HOST:PORT]'));
  const { hosts, prefix } = parseEtcdUrl(opts.url);
  return EtcdStore.open({ hosts, prefix, now: opts.now, logger: opts.logger });
});
