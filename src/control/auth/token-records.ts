// Where hashed tokens live: a 0600 JSON file of the one control plane, or etcd shared by every
// replica (one key per token), so a token created on one replica works, and is revoked, on all.
// Join tokens and API read tokens both keep their records here; each record holds only the
// sha256 of its token's secret.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/log.js';
import { EtcdRecords } from '../store/etcd-records.js';
import { readOptionalFile, writeSecretFile } from './secret-file.js';

export interface TokenRecords<T extends { id: string }> {
  get(id: string): T | undefined;
  all(): T[];
  /** As stored now (another replica may have just written it). */
  fresh(id: string): Promise<T | undefined>;
  /** False when the id is taken. */
  create(t: T): Promise<boolean>;
  update(t: T): Promise<void>;
  close(): Promise<void>;
}

export interface TokenFileFormat<T> {
  /** The file's `format` field, e.g. `trellis-join-tokens/1`. */
  format: string;
  /** What the records are, for error messages ("join token"). */
  what: string;
  /** Checks one stored record; undefined refuses it. */
  parse: (raw: unknown) => T | undefined;
}

class FileTokenRecords<T extends { id: string }> implements TokenRecords<T> {
  private saving: Promise<void> = Promise.resolve();
  constructor(private readonly file: string, private readonly format: string, private readonly tokens: Map<string, T>) {}
  get(id: string) { return this.tokens.get(id); }
  all() { return [...this.tokens.values()]; }
  async fresh(id: string) { return this.tokens.get(id); }
  async create(t: T) {
    if (this.tokens.has(t.id)) return false;
    this.tokens.set(t.id, t);
    await this.save();
    return true;
  }
  async update(t: T) {
    this.tokens.set(t.id, t);
    await this.save();
  }
  async close() { await this.saving.catch(() => undefined); }
  private save(): Promise<void> {
    const text = JSON.stringify({ format: this.format, tokens: [...this.tokens.values()] }, null, 2) + '\n';
    // one write at a time, in order, so an older state never lands last; a failed write does not block the next
    this.saving = this.saving.catch(() => undefined).then(() => writeSecretFile(this.file, text));
    return this.saving;
  }
}

class EtcdTokenRecords<T extends { id: string }> implements TokenRecords<T> {
  constructor(private readonly records: EtcdRecords<T>) {}
  get(id: string) { return this.records.get(id); }
  all() { return this.records.values(); }
  fresh(id: string) { return this.records.fresh(id); }
  create(t: T) { return this.records.create(t.id, t); }
  async update(t: T) { await this.records.put(t.id, t); }
  close() { return this.records.close(); }
}

/** The records of `file` (none when it does not exist yet); a corrupt file is an error naming it. */
export async function openFileTokenRecords<T extends { id: string }>(file: string, fmt: TokenFileFormat<T>): Promise<TokenRecords<T>> {
  const text = await readOptionalFile(file);
  const tokens = new Map<string, T>();
  if (text !== undefined) {
    let parsed: { format?: string; tokens?: unknown[] };
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`the ${fmt.what} file ${file} is corrupt (${(err as Error).message}); delete it to revoke every ${fmt.what}`);
    }
    if (parsed.format !== fmt.format || !Array.isArray(parsed.tokens)) throw new Error(`the ${fmt.what} file ${file} is corrupt (expected format ${fmt.format}); delete it to revoke every ${fmt.what}`);
    for (const raw of parsed.tokens) {
      const t = fmt.parse(raw);
      if (!t) throw new Error(`the ${fmt.what} file ${file} holds an unreadable entry; delete it to revoke every ${fmt.what}`);
      tokens.set(t.id, t);
    }
  }
  return new FileTokenRecords(file, fmt.format, tokens);
}

/** The records under `<prefix><kind>/` in etcd, watched. */
export async function openEtcdTokenRecords<T extends { id: string }>(opts: { client: Etcd3; prefix: string; logger: Logger }, kind: string, parse: (raw: unknown) => T | undefined): Promise<TokenRecords<T>> {
  const records = await EtcdRecords.open<T>({ client: opts.client, prefix: `${opts.prefix}${kind}/`, logger: opts.logger, parse });
  return new EtcdTokenRecords(records);
}
