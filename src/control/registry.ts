import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { NodeInfo } from '../xds/node.js';
import { systemClock, type Clock } from './clock.js';
import { writeFileAtomic } from '../common/atomic-file.js';

/**
 * connected: its stream is open. draining: its stream ended less than the grace period ago.
 * restored: known from the registry file of a previous run and not reconnected yet; it was
 * serving when that run stopped, so peers keep using it until the grace period says otherwise.
 */
export type InstanceState = 'connected' | 'draining' | 'restored';

export interface Nack {
  version: string;
  error: string;
  typeUrl: string;
}

export interface Instance {
  proxyId: string;
  service: string;
  namespace: string;
  address: string;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  app?: { address: string; port: number };
  ingressFor?: string;
  /** The labels the sidecar sent plus `app: <service>`. */
  labels: Record<string, string>;
  zone: string;
  region: string;
  version: string;
  state: InstanceState;
  connected: boolean;
  connectedAt: string;
  disconnectedAt: string | null;
  /** When the sidecar started, as it said in its Node (absent from older sidecars). */
  startedAt?: string;
  // xDS progress, kept here so the API can show it; changing it does not change any snapshot
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: Nack | null;
  /** The control-plane replica that holds (or last held) the proxy's stream. */
  controlReplica?: string;
  /** The store revision of the resources the last sent / the ACKed snapshot reflects (apply --wait). */
  sentRevision?: number | null;
  ackedRevision?: number | null;
}

export interface RegistryOptions {
  /** Where registry.json lives; without it nothing is persisted. */
  dataDir?: string;
  graceMs?: number;
  clock?: Clock;
  /** Delay that coalesces bursts of changes into one write. */
  persistDelayMs?: number;
  onPersistError?: (err: Error) => void;
  /** Names this control-plane replica on the instances whose streams it holds. */
  replicaId?: string;
}

const FORMAT = 'trellis-registry/1';
export const REGISTRY_FILE_NAME = 'registry.json';

/** The instances learned from connected sidecars: the actual state the compiler joins with the desired one. */
export class Registry {
  private readonly instances = new Map<string, Instance>();
  private readonly sessions = new Map<string, number>();
  private readonly dropTimers = new Map<string, unknown>();
  private readonly listeners = new Set<() => void>();
  private readonly statusListeners = new Set<(proxyId: string) => void>();
  /** Instances connected to other control-plane replicas (a shared store), keyed by proxy id. */
  private remote = new Map<string, Instance>();
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly file?: string;
  private nextSession = 1;
  private persistTimer: NodeJS.Timeout | undefined;
  private persisting: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;

  constructor(private readonly opts: RegistryOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.graceMs = opts.graceMs ?? 10_000;
    this.file = opts.dataDir ? path.join(opts.dataDir, REGISTRY_FILE_NAME) : undefined;
  }

  /** Reads the previous run's instances; each stays until it reconnects or the grace period, counted from now, ends. */
  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the registry file ${this.file}: ${(err as Error).message}`);
    }
    let parsed: { format?: string; instances?: Instance[] };
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`the registry file ${this.file} is corrupt (invalid JSON: ${(err as Error).message}); delete it to start with no known instances`);
    }
    if (parsed?.format !== FORMAT || !Array.isArray(parsed.instances)) {
      throw new Error(`the registry file ${this.file} is corrupt (expected format ${FORMAT} with a list of instances); delete it to start with no known instances`);
    }
    for (const inst of parsed.instances) {
      if (!inst || typeof inst.proxyId !== 'string' || typeof inst.service !== 'string' || typeof inst.address !== 'string') continue;
      const restored: Instance = {
        ...inst,
        state: inst.state === 'draining' ? 'draining' : 'restored',
        connected: false,
        disconnectedAt: inst.disconnectedAt ?? null,
      };
      this.instances.set(inst.proxyId, restored);
      this.scheduleDrop(inst.proxyId);
    }
    if (this.instances.size) this.changed();
  }

  /** Registers the sidecar behind a new stream; returns the session that `disconnect` must quote. */
  connect(node: NodeInfo): number {
    const session = this.nextSession++;
    this.sessions.set(node.id, session);
    this.cancelDrop(node.id);
    const previous = this.instances.get(node.id) ?? this.remote.get(node.id);
    this.instances.set(node.id, {
      proxyId: node.id,
      service: node.service,
      namespace: node.namespace,
      address: node.address,
      inboundPort: node.inboundPort,
      outboundPort: node.outboundPort,
      adminPort: node.adminPort,
      app: node.app,
      ingressFor: node.ingressFor,
      labels: { ...node.labels, app: node.service },
      zone: node.zone,
      region: node.region,
      version: node.version,
      state: 'connected',
      connected: true,
      connectedAt: new Date(this.clock.now()).toISOString(),
      disconnectedAt: null,
      ...(node.startedAt ? { startedAt: node.startedAt } : {}),
      // versions are content digests: the new stream states its own progress
      sentVersion: null,
      ackedVersion: null,
      lastNack: previous?.lastNack ?? null,
      ...(this.opts.replicaId ? { controlReplica: this.opts.replicaId } : {}),
    });
    this.changed();
    return session;
  }

  /** Marks the instance draining; a stream replaced by a newer one for the same proxy id changes nothing. */
  disconnect(proxyId: string, session: number): void {
    if (this.sessions.get(proxyId) !== session) return;
    this.sessions.delete(proxyId);
    const inst = this.instances.get(proxyId);
    if (!inst || this.closed) return;
    inst.state = 'draining';
    inst.connected = false;
    inst.disconnectedAt = new Date(this.clock.now()).toISOString();
    this.scheduleDrop(proxyId);
    this.changed();
  }

  /** Records xDS progress without waking the compiler. */
  updateStatus(proxyId: string, status: Partial<Pick<Instance, 'sentVersion' | 'ackedVersion' | 'lastNack' | 'sentRevision' | 'ackedRevision'>>): void {
    const inst = this.instances.get(proxyId);
    if (!inst) return;
    const versionMoved = status.sentVersion !== undefined && status.sentVersion !== inst.sentVersion;
    Object.assign(inst, status);
    if (versionMoved) this.schedulePersist();
    for (const cb of this.statusListeners) cb(proxyId);
  }

  /** This replica's instance if it has one (it holds the live stream), else another replica's. */
  get(proxyId: string): Instance | undefined {
    const local = this.instances.get(proxyId);
    const remote = this.remote.get(proxyId);
    return remote && (!local || (remote.connected && !local.connected)) ? remote : local;
  }

  /** Every known instance: this replica's and, for proxies it does not hold connected, other replicas'. */
  list(): Instance[] {
    const ids = new Set([...this.instances.keys(), ...this.remote.keys()]);
    return [...ids].map((id) => this.get(id)!).sort(byProxyId);
  }

  /** Only the instances whose streams this replica holds or held. */
  localList(): Instance[] {
    return [...this.instances.values()].sort(byProxyId);
  }

  /**
   * Replaces what other replicas serve. `routing` says whether anything the compiler reads
   * changed; xDS progress alone (versions, NACKs) wakes no one.
   */
  setRemote(instances: Iterable<Instance>, routing: boolean): void {
    this.remote = new Map([...instances].map((i) => [i.proxyId, i]));
    if (routing) for (const cb of this.listeners) cb();
  }

  /** Called when a local instance's xDS progress changes, for sharing it with other replicas. */
  onStatus(cb: (proxyId: string) => void): () => void {
    this.statusListeners.add(cb);
    return () => this.statusListeners.delete(cb);
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Writes any pending change now. */
  async flush(): Promise<void> {
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
    }
    if (this.dirty) await this.persist();
    await this.persisting;
  }

  /**
   * Stops timers and writes the registry as it stands, connected instances included: they are
   * serving, and the next run should keep routing to them until they reconnect.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.dropTimers.values()) this.clock.clearTimeout(t);
    this.dropTimers.clear();
    await this.flush();
    this.listeners.clear();
    this.statusListeners.clear();
  }

  private scheduleDrop(proxyId: string): void {
    this.cancelDrop(proxyId);
    this.dropTimers.set(proxyId, this.clock.setTimeout(() => {
      this.dropTimers.delete(proxyId);
      const inst = this.instances.get(proxyId);
      if (!inst || inst.connected) return;
      this.instances.delete(proxyId);
      this.changed();
    }, this.graceMs));
  }

  private cancelDrop(proxyId: string): void {
    const t = this.dropTimers.get(proxyId);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.dropTimers.delete(proxyId);
  }

  private changed(): void {
    this.schedulePersist();
    for (const cb of this.listeners) cb();
  }

  private schedulePersist(): void {
    if (!this.file) return;
    this.dirty = true;
    if (this.persistTimer || this.closed) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      void this.persist();
    }, this.opts.persistDelayMs ?? 200);
    this.persistTimer.unref();
  }

  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    // chained so two writes never race on the temporary file
    this.persisting = this.persisting.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const content = { format: FORMAT, instances: this.localList() };
      try {
        await writeFileAtomic(file, JSON.stringify(content, null, 1) + '\n');
      } catch (err) {
        this.dirty = true;
        this.opts.onPersistError?.(err as Error);
      }
    });
    return this.persisting;
  }
}

function byProxyId(a: Instance, b: Instance): number {
  return a.proxyId < b.proxyId ? -1 : a.proxyId > b.proxyId ? 1 : 0;
}
