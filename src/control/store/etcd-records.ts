// Small JSON records that every control-plane replica must agree on (join tokens, the CA root,
// trust-bundle roots, issued-certificate bookkeeping, the admin token's hash), kept in etcd under
// one key each. Each replica holds a watched copy for synchronous reads; checks that must see a
// write made a moment ago on another replica (a revocation) read etcd first and fall back to the
// copy when etcd cannot be reached. Creation is checked-and-set: of two replicas creating the same
// record, exactly one wins and the other adopts the winner's.
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from '../../common/log.js';

export interface EtcdRecordsOptions<T> {
  client: Etcd3;
  /** Key prefix of this kind of record, ending in `/`. */
  prefix: string;
  /** Checks a stored value; undefined refuses it (logged, ignored). */
  parse: (raw: unknown) => T | undefined;
  logger: Logger;
}

export class EtcdRecords<T> {
  private readonly cache = new Map<string, T>();
  private readonly listeners = new Set<(name: string) => void>();
  private watcher?: Watcher;
  private closed = false;

  private constructor(private readonly opts: EtcdRecordsOptions<T>) {}

  /** Reads every record, then follows changes from that revision on. */
  static async open<T>(opts: EtcdRecordsOptions<T>): Promise<EtcdRecords<T>> {
    const records = new EtcdRecords(opts);
    const res = await opts.client.getAll().prefix(opts.prefix).exec();
    for (const kv of res.kvs) records.apply(kv, 'Put');
    const watcher = await opts.client.watch().prefix(opts.prefix).startRevision((BigInt(res.header.revision) + 1n).toString()).create();
    records.watcher = watcher;
    watcher.on('data', (r: IWatchResponse) => {
      for (const ev of r.events) records.apply(ev.kv, ev.type);
    });
    // after etcd came back, read everything again: a compaction may have dropped events
    watcher.on('connected', () => void records.resync());
    watcher.on('error', (err: Error) => {
      opts.logger.warn({ err, prefix: opts.prefix }, 'etcd watch of shared records failed; reading them again');
      void records.resync();
    });
    return records;
  }

  get(name: string): T | undefined {
    return this.cache.get(name);
  }

  values(): T[] {
    return [...this.cache.values()];
  }

  entries(): [string, T][] {
    return [...this.cache.entries()];
  }

  /** The record as etcd has it now (a linearizable read); the watched copy when etcd cannot answer. */
  async fresh(name: string): Promise<T | undefined> {
    try {
      const raw = await this.opts.client.get(this.key(name)).string();
      if (raw === null) {
        this.forget(name);
        return undefined;
      }
      const value = this.parseText(raw, name);
      if (value !== undefined) this.remember(name, value);
      return value;
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message, record: this.key(name) }, 'etcd unreachable: checking against the last known copy');
      return this.cache.get(name);
    }
  }

  /** Creates the record unless it exists (checked-and-set); false when another writer got there first. */
  async create(name: string, value: T): Promise<boolean> {
    const key = this.key(name);
    const res = await this.opts.client.if(key, 'Create', '==', 0).then(this.opts.client.put(key).value(JSON.stringify(value))).commit();
    if (res.succeeded) this.remember(name, value);
    return res.succeeded;
  }

  async put(name: string, value: T): Promise<void> {
    await this.opts.client.put(this.key(name)).value(JSON.stringify(value)).exec();
    this.remember(name, value);
  }

  async delete(name: string): Promise<boolean> {
    const res = await this.opts.client.delete().key(this.key(name)).exec();
    this.forget(name);
    return Number(res.deleted) > 0;
  }

  /** Called with the record's name after any change, local or from another replica. */
  onChange(cb: (name: string) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.watcher?.cancel().catch(() => undefined);
  }

  private key(name: string): string {
    return this.opts.prefix + encodeURIComponent(name);
  }

  private apply(kv: IKeyValue, type: 'Put' | 'Delete'): void {
    const name = decodeURIComponent(kv.key.toString().slice(this.opts.prefix.length));
    if (type === 'Delete') {
      this.forget(name);
      return;
    }
    const value = this.parseText(kv.value.toString(), name);
    if (value !== undefined) this.remember(name, value);
  }

  private parseText(text: string, name: string): T | undefined {
    let value: T | undefined;
    try {
      value = this.opts.parse(JSON.parse(text));
    } catch {
      value = undefined;
    }
    if (value === undefined) this.opts.logger.warn({ record: this.key(name) }, 'ignoring an unreadable record in etcd');
    return value;
  }

  private remember(name: string, value: T): void {
    const before = this.cache.get(name);
    this.cache.set(name, value);
    if (JSON.stringify(before) !== JSON.stringify(value)) this.changed(name);
  }

  private forget(name: string): void {
    if (this.cache.delete(name)) this.changed(name);
  }

  private changed(name: string): void {
    if (this.closed) return;
    for (const cb of this.listeners) cb(name);
  }

  private async resync(): Promise<void> {
    try {
      const res = await this.opts.client.getAll().prefix(this.opts.prefix).exec();
      const seen = new Set<string>();
      for (const kv of res.kvs) {
        seen.add(decodeURIComponent(kv.key.toString().slice(this.opts.prefix.length)));
        this.apply(kv, 'Put');
      }
      for (const name of [...this.cache.keys()]) if (!seen.has(name)) this.forget(name);
    } catch (err) {
      this.opts.logger.warn({ err, prefix: this.opts.prefix }, 'cannot read the shared records');
    }
  }
}
