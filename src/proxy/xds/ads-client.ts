// The sidecar's xDS client: one ADS stream (state of the world) to a control-plane replica,
// decoding every response through the per-type decoders, ACKing or NACKing it as a whole, and
// handing the data path one complete ProxyConfig at a time. It keeps the last config through
// control-plane outages, moves to another replica (with jittered backoff) when its stream dies or
// its replica stops answering keep-alive PINGs, quotes the versions it holds on every new stream so
// that only changed types are sent again, and saves accepted resources so a restart can start from them.
import type { Logger } from '../../common/log.js';
import { sidecarDescriptor } from '../../xds/descriptor.js';
import { encodeNode, type NodeInfo } from '../../xds/node.js';
import type { ClusterConfig, ClusterLoadAssignment, ListenerConfig, ProxyConfig, RouteTable } from '../config/proxy-config.js';
import { Backoff } from './ads-backoff.js';
import { assembleProxyConfig, configFingerprint, edsNamesOf, rdsNamesOf } from './ads-config-assembler.js';
import { assignmentKind, clusterKind, decodeResourceBytes, listenerKind, routeKind, type ResourceKind } from './ads-resource-kinds.js';
import { loadXdsState, saveXdsState, type SavedXdsState } from './ads-state-file.js';
import { GrpcStream } from './grpc-stream.js';
import { combinedVersion } from '../../xds/xds-versions.js';
import type { GrpcEndReason } from './grpc-status.js';

const adsPath = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const requestTypeName = 'envoy.service.discovery.v3.DiscoveryRequest';
const responseTypeName = 'envoy.service.discovery.v3.DiscoveryResponse';
// google.rpc.Code INVALID_ARGUMENT, what Envoy sends in a NACK's error_detail.
const invalidArgument = 3;

export type ConfigSource = 'xds' | 'saved';

export interface AdsClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AdsClientOptions {
  /** host:port of each control-plane replica's xDS server; the first is tried first. */
  servers: readonly string[];
  node: NodeInfo;
  stateDir?: string;
  logger: Logger;
  onConfig: (config: ProxyConfig, source: ConfigSource) => void;
  clock?: AdsClock;
  random?: () => number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Extra request headers on the ADS call, e.g. { authorization: 'Bearer …' }; a function is asked again for every stream (fresh credentials). */
  metadata?: Record<string, string> | (() => Record<string, string>);
  /** The response headers of each stream the server accepted (e.g. the tap signer's key). */
  onStreamHeaders?: (headers: Readonly<Record<string, string | string[] | undefined>>, server: string) => void;
  maxMessageBytes?: number;
  connectTimeoutMs?: number;
  /** HTTP/2 PING period (0: none) and how long an answer may take before the replica counts as gone. */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
}

export interface AdsNack {
  version: string;
  typeUrl: string;
  error: string;
}

export interface AdsStatus {
  connected: boolean;
  /** The replica the stream is connected to (or being tried). */
  server: string;
  servers: readonly string[];
  /** Streams established after the first one, and those of them on another replica than the one before. */
  reconnects: number;
  failovers: number;
  ackedVersion: string | null;
  lastNack: AdsNack | null;
  lastUpdate: string | null;
  source: ConfigSource | null;
}

export interface AdsTypeResources<T> {
  typeUrl: string;
  version: string | null;
  resources: T[];
}

export interface AdsResources {
  listeners: AdsTypeResources<ListenerConfig>;
  routes: AdsTypeResources<RouteTable>;
  clusters: AdsTypeResources<ClusterConfig>;
  assignments: AdsTypeResources<ClusterLoadAssignment>;
}

interface Entry<T> {
  value: T;
  bytes: Uint8Array;
}

interface TypeState<T> {
  kind: ResourceKind<T>;
  /** version_info of the last accepted response (or of the saved state before the server answers) */
  version: string | null;
  /** nonce of the last response on the current stream */
  nonce: string;
  /** subscribed names; ignored for wildcard types */
  names: string[];
  /** whether a request for this type went out on the current stream */
  requested: boolean;
  /** whether the entries came from the control plane (rather than the saved file) */
  fromServer: boolean;
  entries: Map<string, Entry<T>>;
}

/** What the client received, per type: for the sidecar's metrics. */
export interface AdsTypeStats {
  responses: number;
  resources: number;
  bytes: number;
}

export interface AdsStats {
  reconnects: number;
  failovers: number;
  connected: boolean;
  server: string;
  byType: ReadonlyMap<string, AdsTypeStats>;
}

interface DiscoveryResponse {
  version_info?: string;
  resources?: { type_url?: string; value?: Uint8Array }[];
  type_url?: string;
  nonce?: string;
}

function valuesOf<T>(s: TypeState<T>): T[] {
  return [...s.entries.values()].map((e) => e.value);
}

const realClock: AdsClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class AdsClient {
  private readonly opts: AdsClientOptions;
  private readonly log: Logger;
  private readonly clock: AdsClock;
  private readonly backoff: Backoff;
  private readonly clusters: TypeState<ClusterConfig>;
  private readonly assignments: TypeState<ClusterLoadAssignment>;
  private readonly listeners: TypeState<ListenerConfig>;
  private readonly routes: TypeState<RouteTable>;
  private readonly byTypeUrl = new Map<string, TypeState<any>>();

  private stream: GrpcStream | undefined;
  private nodeSent = false;
  private streamWorked = false;
  private streamConnectedAt = 0;
  /** Index in opts.servers of the replica of the current (or next) stream. */
  private serverIndex = 0;
  /** The replica of the last stream that connected, to tell a failover from a reconnect. */
  private lastConnected: string | undefined;
  private reconnects = 0;
  private failovers = 0;
  private readonly typeStats = new Map<string, AdsTypeStats>();
  private reconnectTimer: unknown;
  private started = false;
  private closed = false;
  private connected = false;
  private ackedVersion: string | null = null;
  private lastNack: AdsNack | null = null;
  private lastUpdate: string | null = null;
  private source: ConfigSource | null = null;
  private fingerprint: string | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(opts: AdsClientOptions) {
    if (opts.servers.length === 0) throw new Error('the xDS client needs at least one control-plane address');
    this.opts = opts;
    this.log = opts.logger;
    this.clock = opts.clock ?? realClock;
    this.backoff = new Backoff({ ...opts.backoff, random: opts.random });
    this.clusters = this.typeState(clusterKind);
    this.assignments = this.typeState(assignmentKind);
    this.listeners = this.typeState(listenerKind);
    this.routes = this.typeState(routeKind);
  }

  /** Serves the saved config at once (if any), then opens the ADS stream. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.opts.stateDir) this.startFromSaved(this.opts.stateDir);
    this.connect();
  }

  /** Ends the stream and any pending reconnect, and waits for the last save to reach the disk. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.connected = false;
    await this.saving;
  }

  status(): AdsStatus {
    return {
      connected: this.connected,
      server: this.server,
      servers: this.opts.servers,
      reconnects: this.reconnects,
      failovers: this.failovers,
      ackedVersion: this.ackedVersion,
      lastNack: this.lastNack,
      lastUpdate: this.lastUpdate,
      source: this.source,
    };
  }

  stats(): AdsStats {
    return { reconnects: this.reconnects, failovers: this.failovers, connected: this.connected, server: this.server, byType: this.typeStats };
  }

  private get server(): string {
    return this.opts.servers[this.serverIndex];
  }

  /** The accepted resources per type, decoded, with their versions (for /config_dump). */
  resources(): AdsResources {
    const view = <T>(s: TypeState<T>): AdsTypeResources<T> => ({
      typeUrl: s.kind.typeUrl,
      version: s.version,
      resources: [...s.entries.values()].map((e) => e.value),
    });
    return { listeners: view(this.listeners), routes: view(this.routes), clusters: view(this.clusters), assignments: view(this.assignments) };
  }

  private typeState<T>(kind: ResourceKind<T>): TypeState<T> {
    const state: TypeState<T> = { kind, version: null, nonce: '', names: [], requested: false, fromServer: false, entries: new Map() };
    this.byTypeUrl.set(kind.typeUrl, state);
    return state;
  }

  private get states(): TypeState<any>[] {
    return [this.clusters, this.assignments, this.listeners, this.routes];
  }

  // ---- stream lifecycle ----

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    this.nodeSent = false;
    this.streamWorked = false;
    for (const s of this.states) {
      s.nonce = '';
      s.requested = false;
    }
    const server = this.server;
    const stream = new GrpcStream(
      {
        authority: server,
        path: adsPath,
        metadata: typeof this.opts.metadata === 'function' ? this.opts.metadata() : this.opts.metadata,
        maxMessageBytes: this.opts.maxMessageBytes,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        keepaliveMs: this.opts.keepaliveMs ?? 10_000,
        keepaliveTimeoutMs: this.opts.keepaliveTimeoutMs ?? 5_000,
      },
      {
        onConnect: () => {
          if (this.stream === stream) this.onConnect(server);
        },
        onHeaders: (headers) => {
          if (this.stream === stream) this.opts.onStreamHeaders?.(headers, server);
        },
        onMessage: (message) => {
          if (this.stream === stream) this.onMessage(message);
        },
        onEnd: (reason) => {
          if (this.stream === stream) this.onEnd(reason);
        },
      },
    );
    this.stream = stream;
    this.log.debug({ server }, 'xds: opening ADS stream');
    // SotW resync: every subscription again, in ADS order, quoting the version held of each type
    // that came from a control plane. Versions are content digests, the same on every replica of
    // one store, so the replica answers only the types whose content differs from ours. Content
    // from the saved file is not quoted: it is confirmed by a full answer before it is used with new.
    for (const s of this.states) {
      if (s.kind.wildcard || s.names.length > 0) this.sendRequest(s, { version: s.fromServer ? s.version ?? '' : '', nonce: '' });
    }
  }

  private onConnect(server: string): void {
    this.connected = true;
    this.streamConnectedAt = this.clock.now();
    if (this.lastConnected !== undefined) {
      this.reconnects++;
      if (this.lastConnected !== server) this.failovers++;
      this.log.info({ server, previous: this.lastConnected }, this.lastConnected === server ? 'xds: reconnected' : 'xds: moved to another control-plane replica');
    }
    this.lastConnected = server;
  }

  private onEnd(reason: GrpcEndReason): void {
    this.stream = undefined;
    this.connected = false;
    if (this.closed) return;
    // a replica that held the stream a while, or answered, worked: start the backoff over. A
    // replica that quotes nothing new may rightly send nothing, hence the time.
    if (this.streamWorked || (this.streamConnectedAt > 0 && this.clock.now() - this.streamConnectedAt >= 5_000)) this.backoff.reset();
    this.streamConnectedAt = 0;
    const failed = this.server;
    this.serverIndex = this.nextServerIndex();
    const delay = this.backoff.next();
    this.log.warn({ server: failed, next: this.server, code: reason.code, reason: reason.message, retryInMs: delay }, 'xds: ADS stream ended; keeping the last config');
    this.reconnectTimer = this.clock.setTimeout(() => this.connect(), delay);
  }

  /** Another replica than the one whose stream just ended, drawn at random so its sidecars spread over the rest. */
  private nextServerIndex(): number {
    const n = this.opts.servers.length;
    if (n === 1) return 0;
    const draw = Math.min(n - 2, Math.floor((this.opts.random ?? Math.random)() * (n - 1)));
    return draw >= this.serverIndex ? draw + 1 : draw;
  }

  private sendRequest(state: TypeState<any>, ack: { version: string; nonce: string; error?: string }): void {
    const stream = this.stream;
    if (!stream) return;
    const request: Record<string, unknown> = {
      version_info: ack.version,
      resource_names: state.kind.wildcard ? [] : state.names,
      type_url: state.kind.typeUrl,
      response_nonce: ack.nonce,
    };
    if (!this.nodeSent) request.node = encodeNode(this.opts.node);
    if (ack.error !== undefined) request.error_detail = { code: invalidArgument, message: ack.error };
    const type = sidecarDescriptor.messageType(requestTypeName);
    stream.write(type.encode(type.fromObject(request)).finish());
    this.nodeSent = true;
    state.requested = true;
  }

  // ---- responses ----

  private onMessage(message: Buffer): void {
    let response: DiscoveryResponse;
    try {
      const type = sidecarDescriptor.messageType(responseTypeName);
      response = type.toObject(type.decode(message), { longs: Number, enums: String, defaults: false }) as DiscoveryResponse;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'xds: malformed DiscoveryResponse; restarting the stream');
      this.stream?.cancel();
      return;
    }
    this.streamWorked = true;
    const typeUrl = response.type_url ?? '';
    const state = this.byTypeUrl.get(typeUrl);
    if (!state) {
      this.log.warn({ typeUrl }, 'xds: response for a type we did not subscribe to; ignored');
      return;
    }
    this.count(typeUrl, response, message.length);
    const version = response.version_info ?? '';
    const nonce = response.nonce ?? '';
    state.nonce = nonce;
    const result = this.decodeResponse(state, response);
    if (!result.ok) {
      this.lastNack = { version, typeUrl, error: result.error };
      this.log.warn({ typeUrl, version, error: result.error }, 'xds: NACK, keeping the previous config');
      this.sendRequest(state, { version: state.fromServer ? state.version ?? '' : '', nonce, error: result.error });
      return;
    }
    this.accept(state, result.entries, version);
    this.sendRequest(state, { version, nonce });
    this.ackedVersion = combinedVersion(this.states.map((s) => [s.kind.typeUrl, s.version] as const));
    if (this.lastNack?.typeUrl === typeUrl) this.lastNack = null;
    this.log.debug({ typeUrl, version, resources: result.entries.size }, 'xds: ACK');
    if (state === this.clusters) this.subscribe(this.assignments, edsNamesOf(valuesOf(this.clusters)));
    if (state === this.listeners) this.subscribe(this.routes, rdsNamesOf(valuesOf(this.listeners)));
    this.publish(version);
  }

  private count(typeUrl: string, response: DiscoveryResponse, bytes: number): void {
    let st = this.typeStats.get(typeUrl);
    if (!st) this.typeStats.set(typeUrl, (st = { responses: 0, resources: 0, bytes: 0 }));
    st.responses++;
    st.resources += response.resources?.length ?? 0;
    st.bytes += bytes;
  }

  /** Decodes every resource of a response; one refusal refuses the whole response. */
  private decodeResponse<T>(state: TypeState<T>, response: DiscoveryResponse): { ok: true; entries: Map<string, Entry<T>> } | { ok: false; error: string } {
    const entries = new Map<string, Entry<T>>();
    const errors: string[] = [];
    for (const any of response.resources ?? []) {
      if (any.type_url !== state.kind.typeUrl) {
        errors.push(`resource of type ${any.type_url ?? '(none)'} in a ${state.kind.typeUrl} response`);
        continue;
      }
      const bytes = any.value ?? new Uint8Array();
      const r = decodeResourceBytes(state.kind, bytes);
      if (!r.ok) {
        errors.push(r.error);
        continue;
      }
      const name = state.kind.nameOf(r.value);
      if (entries.has(name)) errors.push(`duplicate resource name "${name}"`);
      entries.set(name, { value: r.value, bytes });
    }
    if (errors.length > 0) return { ok: false, error: errors.length > 3 ? `${errors.slice(0, 3).join('; ')}; and ${errors.length - 3} more` : errors.join('; ') };
    return { ok: true, entries };
  }

  private accept<T>(state: TypeState<T>, entries: Map<string, Entry<T>>, version: string): void {
    if (state.kind.wildcard) {
      state.entries = entries;
    } else {
      // EDS and RDS responses carry the requested names; a name missing from one keeps its last
      // value (Envoy's warming: a cluster keeps its endpoints until new ones arrive). Names we
      // did not ask for are dropped.
      if (!state.fromServer) state.entries = new Map();
      const wanted = new Set(state.names);
      for (const [name, entry] of entries) if (wanted.has(name)) state.entries.set(name, entry);
    }
    state.version = version;
    state.fromServer = true;
  }

  /** Changes an EDS or RDS subscription; names no longer wanted are forgotten. */
  private subscribe(state: TypeState<any>, names: string[]): void {
    const same = names.length === state.names.length && names.every((n, i) => n === state.names[i]);
    if (same) return;
    state.names = names;
    const wanted = new Set(names);
    for (const name of [...state.entries.keys()]) if (!wanted.has(name)) state.entries.delete(name);
    // An empty list is sent only to withdraw an earlier subscription on this stream.
    if (names.length > 0 || state.requested) this.sendRequest(state, { version: state.fromServer ? state.version ?? '' : '', nonce: state.nonce });
  }

  // ---- config hand-over ----

  private publish(version: string): void {
    // After a saved start, wait until the control plane has sent every type in use, so that a
    // handed-over config is never part saved, part new.
    const needed = [this.clusters, this.listeners];
    if (this.assignments.names.length > 0) needed.push(this.assignments as TypeState<any>);
    if (this.routes.names.length > 0) needed.push(this.routes as TypeState<any>);
    if (!needed.every((s) => s.fromServer)) return;
    // one version for the whole config, computed as the control plane does for `get proxies`
    const whole = combinedVersion(this.states.map((s) => [s.kind.typeUrl, s.version] as const));
    const assembled = assembleProxyConfig(whole, this.acceptedValues());
    if (!assembled.ok) {
      this.log.debug({ version: whole, triggeredBy: version, reason: assembled.error }, 'xds: config not complete yet');
      return;
    }
    const fingerprint = configFingerprint(assembled.value);
    if (fingerprint === this.fingerprint && this.source === 'xds') return;
    this.hand(assembled.value, 'xds', fingerprint);
    if (this.opts.stateDir) this.save(this.opts.stateDir, whole);
  }

  private hand(config: ProxyConfig, source: ConfigSource, fingerprint: string): void {
    this.fingerprint = fingerprint;
    this.source = source;
    this.lastUpdate = new Date(this.clock.now()).toISOString();
    this.log.info({ version: config.version, source, listeners: config.listeners.length, clusters: config.clusters.size }, 'xds: new config');
    try {
      this.opts.onConfig(config, source);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'xds: onConfig failed');
    }
  }

  private acceptedValues() {
    const values = <T>(s: TypeState<T>) => new Map([...s.entries].map(([k, e]) => [k, e.value]));
    return { listeners: values(this.listeners), routes: values(this.routes), clusters: values(this.clusters), assignments: values(this.assignments) };
  }

  // ---- saved state ----

  private save(dir: string, version: string): void {
    const types: SavedXdsState['types'] = {};
    for (const s of this.states) {
      types[s.kind.typeUrl] = { version: s.version ?? version, resources: [...s.entries.values()].map((e) => Buffer.from(e.bytes).toString('base64')) };
    }
    const state: SavedXdsState = { version, savedAt: new Date(this.clock.now()).toISOString(), types };
    // Saves are chained so an older snapshot can never land after a newer one.
    this.saving = this.saving
      .then(() => saveXdsState(dir, state))
      .catch((err) => this.log.error({ err: (err as Error).message, dir }, 'xds: cannot save the config'));
  }

  private startFromSaved(dir: string): void {
    const loaded = loadXdsState(dir);
    if (!loaded.ok) {
      this.log.warn({ error: loaded.error }, 'xds: ignoring the saved config');
      return;
    }
    if (!loaded.value) return;
    const saved = loaded.value;
    const decodedTypes = new Map<TypeState<any>, Map<string, Entry<any>>>();
    for (const s of this.states) {
      const entries = new Map<string, Entry<any>>();
      for (const b64 of saved.types[s.kind.typeUrl]?.resources ?? []) {
        const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
        const r = decodeResourceBytes(s.kind, bytes);
        if (!r.ok) {
          this.log.warn({ error: r.error }, 'xds: ignoring the saved config');
          return;
        }
        entries.set(s.kind.nameOf(r.value), { value: r.value, bytes });
      }
      decodedTypes.set(s, entries);
    }
    for (const [s, entries] of decodedTypes) {
      s.entries = entries;
      s.version = saved.types[s.kind.typeUrl]?.version ?? saved.version;
    }
    this.assignments.names = edsNamesOf(valuesOf(this.clusters));
    this.routes.names = rdsNamesOf(valuesOf(this.listeners));
    const assembled = assembleProxyConfig(saved.version, this.acceptedValues());
    if (!assembled.ok) {
      this.log.warn({ error: assembled.error }, 'xds: ignoring the saved config: incomplete');
      for (const s of this.states) {
        s.entries = new Map();
        s.version = null;
        s.names = [];
      }
      return;
    }
    this.log.info({ version: saved.version, savedAt: saved.savedAt }, 'xds: starting from the saved config');
    this.hand(assembled.value, 'saved', configFingerprint(assembled.value));
  }
}
