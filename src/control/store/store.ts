import type { Logger } from '../../common/log.js';
import type { Kind, Resource } from '../../resources/kinds.js';

/** A resource as the store holds it: what was applied, plus the bookkeeping a reader may show. */
export type StoredResource = Resource & {
  metadata: Resource['metadata'] & { generation: number; creationTimestamp: string };
};

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  kind: Kind;
  namespace: string;
  name: string;
  action: ApplyAction;
}

export interface StoreChange {
  revision: number;
}

/** Whether the store takes writes; a store that does not is serving its last known state read-only. */
export interface StoreHealth {
  writable: boolean;
  /** Why it is not writable. */
  reason?: string;
}

/** The desired state of the mesh. Implementations persist it; every method is safe to call concurrently. */
export interface Store {
  /** Grows by one with every write that changed something. */
  readonly revision: number;
  list(kind?: Kind): Promise<StoredResource[]>;
  get(kind: Kind, namespace: string, name: string): Promise<StoredResource | undefined>;
  /** All or nothing; with dryRun the outcome is computed but nothing is stored. */
  apply(resources: Resource[], opts?: { dryRun?: boolean }): Promise<ApplyOutcome[]>;
  delete(kind: Kind, namespace: string, name: string): Promise<boolean>;
  /** Called after each committed change; returns an unsubscribe function. */
  onChange(cb: (change: StoreChange) => void): () => void;
  /** Stores that can lose their backend (etcd) report it here; absent means always writable. */
  health?(): StoreHealth;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Directory for the file store. */
  dataDir?: string;
  /** Store-specific location, e.g. an etcd URL. */
  url?: string;
  now?: () => Date;
  /** Where a store with a remote backend reports losing and regaining it. */
  logger?: Logger;
}

export type StoreFactory = (opts: StoreOptions) => Promise<Store>;

const factories = new Map<string, StoreFactory>();

/** Stores register by name ("file", later "etcd") so the CLI can pick one from a flag. */
export function registerStore(name: string, factory: StoreFactory): void {
  factories.set(name, factory);
}

export async function openStore(name: string, opts: StoreOptions): Promise<Store> {
  const factory = factories.get(name);
  if (!factory) throw new Error(`unknown store "${name}"; known: ${[...factories.keys()].join(', ') || 'none'}`);
  return factory(opts);
}
