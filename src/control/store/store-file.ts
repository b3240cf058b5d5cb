import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { kinds, resourceKey, type Kind, type Resource } from '../../resources/kinds.js';
import { validateDocument } from '../../resources/validate.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { canonicalJson } from './canonical-json.js';
import { registerStore, type ApplyOutcome, type Store, type StoreChange, type StoreOptions, type StoredResource } from './store.js';

const FORMAT = 'trellis-store/1';
export const STORE_FILE_NAME = 'resources.json';

interface FileContent {
  format: string;
  revision: number;
  resources: StoredResource[];
}

/**
 * The embedded store: the whole desired state in one JSON file under the data dir, rewritten
 * atomically on every change. Meshes hold hundreds of resources, not millions, so rewriting the
 * file is cheap and keeps every revision whole.
 */
export class FileStore implements Store {
  private resources = new Map<string, StoredResource>();
  private rev = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private listeners = new Set<(change: StoreChange) => void>();
  private closed = false;

  private constructor(readonly file: string, private readonly now: () => Date) {}

  /** Opens (or creates) the store in dataDir; a file that cannot be read or parsed is a start-up error naming it. */
  static async open(dataDir: string, now: () => Date = () => new Date()): Promise<FileStore> {
    await mkdir(dataDir, { recursive: true });
    const store = new FileStore(path.join(dataDir, STORE_FILE_NAME), now);
    await store.load();
    await removeStaleTemps(dataDir, STORE_FILE_NAME);
    return store;
  }

  get revision(): number {
    return this.rev;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the store file ${this.file}: ${(err as Error).message}`);
    }
    const content = parseContent(text, this.file);
    this.rev = content.revision;
    for (const r of content.resources) this.resources.set(resourceKey(r), r);
  }

  async list(kind?: Kind): Promise<StoredResource[]> {
    const out = [...this.resources.values()].filter((r) => !kind || r.kind === kind);
    return out.sort((a, b) => compareKeys(resourceKey(a), resourceKey(b)));
  }

  async get(kind: Kind, namespace: string, name: string): Promise<StoredResource | undefined> {
    return this.resources.get(`${kind}/${namespace}/${name}`);
  }

  apply(resources: Resource[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome[]> {
    return this.serialized(async () => {
      const next = new Map(this.resources);
      const outcomes: ApplyOutcome[] = [];
      const timestamp = this.now().toISOString();
      for (const r of resources) {
        const key = resourceKey(r);
        const old = next.get(key);
        const namespace = r.metadata.namespace ?? 'default';
        const base = { kind: r.kind, namespace, name: r.metadata.name };
        if (old && sameContent(old, r)) {
          outcomes.push({ ...base, action: 'unchanged' });
          continue;
        }
        const stored = {
          ...r,
          metadata: {
            ...r.metadata,
            namespace,
            generation: old ? old.metadata.generation + 1 : 1,
            creationTimestamp: old ? old.metadata.creationTimestamp : timestamp,
          },
        } as StoredResource;
        next.set(key, stored);
        outcomes.push({ ...base, action: old ? 'configured' : 'created' });
      }
      if (!opts.dryRun && outcomes.some((o) => o.action !== 'unchanged')) await this.commit(next);
      return outcomes;
    });
  }

  delete(kind: Kind, namespace: string, name: string): Promise<boolean> {
    return this.serialized(async () => {
      const key = `${kind}/${namespace}/${name}`;
      if (!this.resources.has(key)) return false;
      const next = new Map(this.resources);
      next.delete(key);
      await this.commit(next);
      return true;
    });
  }

  onChange(cb: (change: StoreChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
    this.listeners.clear();
  }

  // The in-memory state changes only once the new file is durable, so a failed write leaves both as they were.
  private async commit(next: Map<string, StoredResource>): Promise<void> {
    const revision = this.rev + 1;
    const content: FileContent = {
      format: FORMAT,
      revision,
      resources: [...next.values()].sort((a, b) => compareKeys(resourceKey(a), resourceKey(b))),
    };
    await writeFileAtomic(this.file, JSON.stringify(content, null, 1) + '\n');
    this.resources = next;
    this.rev = revision;
    for (const cb of this.listeners) {
      try {
        cb({ revision });
      } catch {
        // a faulty subscriber must not undo a committed write
      }
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function withoutBookkeeping(r: Resource): unknown {
  const { generation: _g, creationTimestamp: _c, ...metadata } = r.metadata as StoredResource['metadata'];
  return { ...r, metadata: { ...metadata, namespace: metadata.namespace ?? 'default' } };
}

function sameContent(a: Resource, b: Resource): boolean {
  return canonicalJson(withoutBookkeeping(a)) === canonicalJson(withoutBookkeeping(b));
}

function parseContent(text: string, file: string): FileContent {
  const fail = (why: string): never => {
    throw new Error(`the store file ${file} is corrupt (${why}); restore it from a backup or move it away to start empty`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  const obj = json as Partial<FileContent> | null;
  if (!obj || typeof obj !== 'object') return fail('not an object');
  if (obj.format !== FORMAT) return fail(`unknown format ${JSON.stringify(obj.format)}, expected ${FORMAT}`);
  if (!Number.isInteger(obj.revision) || (obj.revision as number) < 0) return fail('revision is not a non-negative integer');
  if (!Array.isArray(obj.resources)) return fail('resources is not a list');
  const resources: StoredResource[] = [];
  obj.resources.forEach((raw, i) => {
    const kind = (raw as { kind?: unknown })?.kind;
    if (typeof kind !== 'string' || !(kind in kinds)) fail(`resource ${i + 1} has unknown kind ${JSON.stringify(kind)}`);
    const checked = validateDocument(raw, file, i + 1);
    if (!checked.resource) return fail(`resource ${i + 1}: ${checked.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
    const meta = (raw as StoredResource).metadata;
    if (!Number.isInteger(meta.generation) || typeof meta.creationTimestamp !== 'string') fail(`resource ${i + 1} lacks generation or creationTimestamp`);
    resources.push({
      ...checked.resource,
      metadata: { ...checked.resource.metadata, generation: meta.generation, creationTimestamp: meta.creationTimestamp },
    } as StoredResource);
  });
  return { format: FORMAT, revision: obj.revision as number, resources };
}

/** Temporary files left by a process killed mid-write hold nothing acknowledged. */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(`${base}.tmp-`)) await unlink(path.join(dir, entry)).catch(() => undefined);
  }
}

registerStore('file', (opts: StoreOptions) => {
  if (!opts.dataDir) return Promise.reject(new Error('the file store needs a data directory'));
  return FileStore.open(opts.dataDir, opts.now);
});
