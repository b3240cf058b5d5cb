import { Metadata, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { XdsAuthenticator, XdsCredentialHeaders } from '../auth/xds-auth.js';
import { xdsCertHeader, xdsProofHeader, xdsProofTimeHeader } from '../../xds/xds-credentials.js';
import type { Logger } from '../../common/log.js';
import { compileProxySnapshot, type MeshState, type SnapshotOptions } from '../compiler/compile-snapshot.js';
import { CompileCache } from '../compiler/compile-cache.js';
import { indexMesh, type MeshIndex } from '../compiler/mesh-index.js';
import type { NodeInfo } from '../../xds/node.js';
import type { Registry } from '../registry.js';
import { adsServiceDefinition, type DiscoveryRequest, type DiscoveryResponse } from './ads-service-definition.js';
import { AdsStream, type StreamHost } from './ads-stream.js';
import { encodeSnapshot, type EncodedSnapshot } from './encoded-snapshot.js';
import { PushDebouncer, type DebounceOptions } from './push-debouncer.js';

export interface AdsServerOptions {
  registry: Registry;
  logger: Logger;
  /** The desired state as of now; the server asks again on every refresh. */
  resources: () => MeshState['resources'];
  /** The store revision those resources reflect; each proxy's ACKed revision is derived from it. */
  revision?: () => number;
  /** Proxies holding a valid workload certificate (their peers reach them over mTLS). */
  certified?: () => ReadonlySet<string>;
  /** Checks each stream's credentials; absent: every stream is admitted unauthenticated. */
  auth?: XdsStreamAuth;
  /** How bursts of changes coalesce into one push (default 100 ms quiet, 1 s at most). */
  debounce?: Partial<DebounceOptions>;
  /** Response headers of every admitted stream (the tap signer's public key, src/xds/tap-grant.ts). */
  streamHeaders?: () => Record<string, string>;
}

/** What the server has pushed since it started (GET /api/v1/xds). */
export interface XdsPushStats {
  connected: number;
  /** Changes wait in the debounce window: what the proxies hold does not reflect them yet. */
  pending: boolean;
  /** Refresh passes: each recompiles every connected proxy once. */
  passes: number;
  /** Changes that asked for a refresh (several coalesce into one pass). */
  changes: number;
  lastPassMs: number;
  /** Proxy refreshes that pushed something. */
  pushes: number;
  responses: number;
  resources: number;
  bytes: number;
  /** Subscriptions not answered because the proxy quoted the version it already holds (e.g. after moving from another replica). */
  held: number;
  /** Distinct resources compiled (not found in the compile cache) since start, and the cache's size. */
  compiled: number;
  cached: number;
  debounce: DebounceOptions;
}

export type XdsStreamAuth = Pick<XdsAuthenticator, 'authenticate'>;

/** Serves ADS over gRPC and keeps every connected proxy's snapshot current. */
export class AdsServer implements StreamHost {
  readonly registry: Registry;
  readonly logger: Logger;
  closing = false;
  /** Checks each stream's credentials; null: every stream is admitted unauthenticated. */
  auth: XdsStreamAuth | null;
  /** Response headers of every admitted stream (the tap signer's public key, src/xds/tap-grant.ts). */
  streamHeaders: (() => Record<string, string>) | null;
  private readonly server = new Server({
    // notice sidecars that vanish without closing their connection
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  private readonly streams = new Set<AdsStream>();
  private nonce = 0;
  private readonly cache = new CompileCache();
  private index: MeshIndex | undefined;
  /** The store revision the index was built from (not the store's latest: a debounced change is not in it yet). */
  private indexRevision = 0;
  private readonly debouncer: PushDebouncer;
  private readonly counts = { passes: 0, changes: 0, lastPassMs: 0, pushes: 0, responses: 0, resources: 0, bytes: 0, held: 0 };

  constructor(private readonly opts: AdsServerOptions) {
    this.registry = opts.registry;
    this.logger = opts.logger;
    this.auth = opts.auth ?? null;
    this.streamHeaders = opts.streamHeaders ?? null;
    this.debouncer = new PushDebouncer(opts.debounce ?? {}, () => this.refreshNow());
    this.server.addService(adsServiceDefinition({ onResponseBytes: (n) => { this.counts.bytes += n; } }), {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
        if (this.closing) {
          call.end();
          return;
        }
        void this.admit(call);
      },
    });
  }

  /** Checks the stream's credentials before reading its first request (grpc-js buffers it meanwhile). */
  private async admit(call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): Promise<void> {
    if (!this.auth) {
      this.sendStreamHeaders(call);
      this.streams.add(new AdsStream(call, this, { principal: null }));
      return;
    }
    let decision;
    try {
      decision = await this.auth.authenticate(credentialHeaders(call.metadata));
    } catch (err) {
      decision = { ok: false as const, code: 16 as const, message: `cannot check the credentials: ${(err as Error).message}` };
    }
    if (call.cancelled || this.closing) return;
    if (!decision.ok) {
      this.logger.warn({ peer: call.getPeer(), code: decision.code, details: decision.message }, 'ADS stream refused');
      call.emit('error', { code: decision.code, details: decision.message });
      return;
    }
    this.sendStreamHeaders(call);
    this.streams.add(new AdsStream(call, this, { principal: decision.principal }));
  }

  private sendStreamHeaders(call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void {
    const headers = this.streamHeaders?.();
    if (!headers) return;
    const md = new Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    call.sendMetadata(md);
  }

  /** Binds address:port (0 picks one) and returns the bound port. */
  listen(address: string, port: number): Promise<number> {
    const host = address.includes(':') ? `[${address}]` : address;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  meshState(): MeshState {
    return { resources: this.opts.resources(), instances: this.registry.list(), certified: this.opts.certified?.() };
  }

  /**
   * A proxy's snapshot from the mesh index of the last refresh pass. A stream that starts between
   * passes gets that state; the pass a change scheduled brings it up to date with the others.
   */
  compile(node: NodeInfo, listenerNames: readonly string[], opts: SnapshotOptions): EncodedSnapshot {
    const index = this.index ?? this.rebuildIndex();
    return encodeSnapshot(compileProxySnapshot(index, node, listenerNames, opts));
  }

  countHeld(): void {
    this.counts.held++;
  }

  countResponse(resources: number): void {
    this.counts.responses++;
    this.counts.resources += resources;
  }

  stats(): XdsPushStats {
    return { connected: this.streams.size, pending: this.debouncer.pending, ...this.counts, compiled: this.cache.compiled, cached: this.cache.size, debounce: this.debouncer.options };
  }

  /** The store revision of the mesh index streams compile from: what a proxy's snapshot reflects. */
  storeRevision(): number {
    return this.indexRevision;
  }

  private rebuildIndex(): MeshIndex {
    // read before the state: the state holds at least this revision
    const revision = this.opts.revision?.() ?? 0;
    this.index = indexMesh(this.meshState(), this.cache);
    this.indexRevision = revision;
    return this.index;
  }

  nextNonce(): string {
    return String(++this.nonce);
  }

  streamEnded(stream: AdsStream): void {
    this.streams.delete(stream);
  }

  /**
   * Recompiles every connected proxy once changes stop coming for the quiet period (or once the
   * first of them has waited the maximum): a burst of changes makes one push, like Istio's
   * PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX.
   */
  scheduleRefresh(): void {
    if (this.closing) return;
    this.counts.changes++;
    this.debouncer.schedule();
  }

  /** One refresh pass now: a new mesh index, every stream recompiled from it, pushes where something changed. */
  refreshNow(): void {
    this.debouncer.cancel();
    const started = performance.now();
    try {
      this.rebuildIndex();
    } catch (err) {
      // a compiler bug must not take the control plane down; proxies keep their last config
      this.logger.error({ err }, 'cannot index the mesh state; nothing pushed');
      return;
    }
    let pushed = 0;
    for (const stream of this.streams) if (stream.refresh()) pushed++;
    this.cache.sweep();
    this.counts.passes++;
    this.counts.pushes += pushed;
    this.counts.lastPassMs = Math.round((performance.now() - started) * 10) / 10;
    if (pushed) this.logger.debug({ pushed, streams: this.streams.size, ms: this.counts.lastPassMs }, 'pushed new snapshots');
  }

  get connectedStreams(): number {
    return this.streams.size;
  }

  /** Ends every stream with status OK and stops the server. */
  async close(): Promise<void> {
    this.closing = true;
    this.debouncer.cancel();
    for (const stream of [...this.streams]) stream.end();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

function credentialHeaders(metadata: Metadata): XdsCredentialHeaders {
  const headers: XdsCredentialHeaders = {};
  for (const key of ['authorization', xdsCertHeader, xdsProofHeader, xdsProofTimeHeader] as const) {
    const value = metadata.get(key)[0];
    if (value !== undefined) headers[key] = String(value);
  }
  return headers;
}
