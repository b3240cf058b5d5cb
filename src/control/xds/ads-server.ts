import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import type { MeshState } from '../compiler/compile-snapshot.js';
import type { Registry } from '../registry.js';
import { adsServiceDefinition, type DiscoveryRequest, type DiscoveryResponse } from './ads-service-definition.js';
import { AdsStream, type StreamHost } from './ads-stream.js';

export interface AdsServerOptions {
  registry: Registry;
  logger: Logger;
  /** The desired state as of now; the server asks again on every refresh. */
  resources: () => MeshState['resources'];
  /** The store revision those resources reflect; each proxy's ACKed revision is derived from it. */
  revision?: () => number;
  /** Proxies holding a valid workload certificate (their peers reach them over mTLS). */
  certified?: () => ReadonlySet<string>;
}

/** Serves ADS over gRPC and keeps every connected proxy's snapshot current. */
export class AdsServer implements StreamHost {
  readonly registry: Registry;
  readonly logger: Logger;
  closing = false;
  private readonly server = new Server({
    // notice sidecars that vanish without closing their connection
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  private readonly streams = new Set<AdsStream>();
  private readonly versions = new Map<string, { version: number; hash: string }>();
  private nonce = 0;
  private refreshScheduled = false;

  constructor(private readonly opts: AdsServerOptions) {
    this.registry = opts.registry;
    this.logger = opts.logger;
    this.server.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
        if (this.closing) {
          call.end();
          return;
        }
        this.streams.add(new AdsStream(call, this));
      },
    });
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

  storeRevision(): number {
    return this.opts.revision?.() ?? 0;
  }

  versionFor(proxyId: string, hash: string): number {
    const prev = this.versions.get(proxyId);
    if (prev && prev.hash === hash) return prev.version;
    // after a restart, continue from the last version this proxy was sent, so versions only grow
    const base = prev?.version ?? (Number(this.registry.get(proxyId)?.sentVersion) || 0);
    const version = base + 1;
    this.versions.set(proxyId, { version, hash });
    return version;
  }

  nextNonce(): string {
    return String(++this.nonce);
  }

  streamEnded(stream: AdsStream): void {
    this.streams.delete(stream);
  }

  /** Recompiles every connected proxy soon; bursts of changes coalesce into one pass. */
  scheduleRefresh(): void {
    if (this.refreshScheduled || this.closing) return;
    this.refreshScheduled = true;
    setImmediate(() => {
      this.refreshScheduled = false;
      this.refreshNow();
    });
  }

  refreshNow(): void {
    let pushed = 0;
    for (const stream of this.streams) if (stream.refresh()) pushed++;
    if (pushed) this.logger.debug({ pushed, streams: this.streams.size }, 'pushed new snapshots');
  }

  get connectedStreams(): number {
    return this.streams.size;
  }

  /** Ends every stream with status OK and stops the server. */
  async close(): Promise<void> {
    this.closing = true;
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
