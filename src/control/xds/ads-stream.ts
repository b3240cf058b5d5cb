import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { decodeNode, type NodeInfo } from '../../xds/node.js';
import { adsOrder, typeUrls } from '../../xds/type-urls.js';
import type { SnapshotOptions } from '../compiler/compile-snapshot.js';
import type { Registry } from '../registry.js';
import { XdsAuthenticator, type XdsPrincipal } from '../auth/xds-auth.js';
import type { DiscoveryRequest, DiscoveryResponse } from './ads-service-definition.js';
import type { EncodedSnapshot } from './encoded-snapshot.js';

// Envoy's rule: for these types an empty resource_names list asks for everything.
const wildcardTypes = new Set<string>([typeUrls.listener, typeUrls.cluster]);
// The xDS spec: in state of the world, a Listener or Cluster response holds every resource of
// the type (one left out is deleted); other types may carry only the resources that changed.
const fullStateTypes = wildcardTypes;

interface Subscription {
  wildcard: boolean;
  names: Set<string>;
  nonce: string;
  sentVersion: string;
  ackedVersion: string | null;
  /** Digest of each resource as last sent on this stream: what the proxy holds (or is about to). */
  sent: Map<string, string>;
}

/** What a stream needs from the server that holds it. */
export interface StreamHost {
  readonly registry: Registry;
  readonly logger: Logger;
  /** The proxy's snapshot as of the mesh state the server holds now. */
  compile(node: NodeInfo, listenerNames: readonly string[], opts: SnapshotOptions): EncodedSnapshot;
  /** Counts one response written to a proxy, for the push statistics. */
  countResponse?(resources: number): void;
  /** The store revision the resources of the compiled snapshots reflect (0 when unknown). */
  storeRevision?(): number;
  /** The version for this proxy's snapshot: the same while the content is, one more when it changes. */
  versionFor(proxyId: string, hash: string): number;
  nextNonce(): string;
  /** True while the server shuts down: streams ending then do not mean their sidecars left. */
  readonly closing: boolean;
  streamEnded(stream: AdsStream): void;
}

/** One sidecar's ADS stream: registration, subscriptions, versions, nonces, ACK and NACK (docs/xds.md). */
export class AdsStream {
  private node?: NodeInfo;
  // grpc-js-xds (no sidecar) refuses Trellis's extensions and any balancer but round robin
  private proxyless = false;
  private session = 0;
  private readonly subs = new Map<string, Subscription>();
  private snapshot?: EncodedSnapshot;
  private version = 0;
  private ended = false;
  /** Snapshot version → the newest store revision it reflects (a recompile to the same content moves it on). */
  private readonly versionRevisions = new Map<number, number>();

  /** Whom the stream's credentials speak for; null when it presented none (admitted unauthenticated). */
  private readonly principal: XdsPrincipal | null;

  constructor(private readonly call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, private readonly host: StreamHost, auth: { principal: XdsPrincipal | null } = { principal: null }) {
    this.principal = auth.principal;
    call.on('data', (req: DiscoveryRequest) => this.onRequest(req));
    call.on('end', () => {
      this.finish();
      call.end();
    });
    call.on('cancelled', () => this.finish());
    call.on('error', () => this.finish());
    call.on('close', () => this.finish());
  }

  get proxyId(): string | undefined {
    return this.node?.id;
  }

  /**
   * Recompiles; when the content changed, moves to a new version and pushes, in ADS order, each
   * subscribed type that changed: Listeners and Clusters whole, other types only the resources
   * that changed. Returns whether it pushed.
   */
  refresh(): boolean {
    if (!this.node || this.ended) return false;
    const ldsNames = this.subs.get(typeUrls.listener);
    const listenerNames = ldsNames && !ldsNames.wildcard ? [...ldsNames.names] : [];
    let next: EncodedSnapshot;
    try {
      next = this.host.compile(this.node, listenerNames, { proxyless: this.proxyless });
    } catch (err) {
      // a compiler bug must not take the stream down; the proxy keeps its last config
      this.host.logger.error({ err, proxy: this.node.id }, 'cannot compile the snapshot');
      return false;
    }
    const revision = this.host.storeRevision?.() ?? 0;
    if (this.snapshot && next.hash === this.snapshot.hash) {
      // unchanged for this proxy: what it holds (or will ACK) reflects the new revision too
      this.noteRevision(this.version, revision);
      return false;
    }
    this.snapshot = next;
    const types = [...this.subs.keys()].sort((a, b) => orderOf(a) - orderOf(b));
    const changes: [string, string[]][] = [];
    for (const typeUrl of types) {
      const changed = this.changedNames(typeUrl);
      if (changed !== null) changes.push([typeUrl, changed]);
    }
    if (changes.length === 0) {
      // only what the proxy does not subscribe to changed: it holds this content already
      this.noteRevision(this.version, revision);
      return false;
    }
    this.version = this.host.versionFor(this.node.id, next.hash);
    this.noteRevision(this.version, revision);
    for (const [typeUrl, names] of changes) this.send(typeUrl, names);
    return true;
  }

  /** What of a subscribed type differs from what was sent: null for nothing, else the names to send (all of them for LDS and CDS). */
  private changedNames(typeUrl: string): string[] | null {
    const sub = this.subs.get(typeUrl)!;
    const digests = this.snapshot!.digests.get(typeUrl) ?? new Map<string, string>();
    const names = this.namesFor(sub, digests);
    const changed = names.filter((n) => sub.sent.get(n) !== digests.get(n));
    if (fullStateTypes.has(typeUrl)) {
      const removed = [...sub.sent.keys()].some((n) => !digests.has(n) && (sub.wildcard || sub.names.has(n)));
      return changed.length || removed ? names : null;
    }
    return changed.length ? changed : null;
  }

  /** The names a subscription gets: every resource of a wildcard one, else those asked for that exist. */
  private namesFor(sub: Subscription, available: ReadonlyMap<string, unknown>): string[] {
    return sub.wildcard ? [...available.keys()].sort() : [...sub.names].sort().filter((n) => available.has(n));
  }

  /** Ends the stream from the server side with status OK. */
  end(): void {
    if (this.ended) return;
    this.call.end();
    this.finish();
  }

  private onRequest(req: DiscoveryRequest): void {
    if (this.ended) return;
    if (!this.node) {
      const info = decodeNode(req.node);
      if (typeof info === 'string') return this.fail(status.INVALID_ARGUMENT, `invalid xDS node: ${info}`);
      const mismatch = this.principal ? XdsAuthenticator.mismatch(this.principal, info) : null;
      if (mismatch) return this.fail(status.PERMISSION_DENIED, `xDS node ${info.id}: ${mismatch}`);
      this.node = info;
      this.proxyless = req.node?.user_agent_name !== 'trellis';
      this.session = this.host.registry.connect(info);
      const auth = this.principal ? this.principal.subject : 'unauthenticated';
      this.host.logger.info({ proxy: info.id, service: info.service, address: info.address, auth }, 'proxy connected');
    }
    const typeUrl = req.type_url ?? '';
    if (!typeUrl) return this.fail(status.INVALID_ARGUMENT, 'type_url is required');
    const nonce = req.response_nonce ?? '';
    const sub = this.subs.get(typeUrl);
    if (sub && nonce && nonce !== sub.nonce) {
      this.host.logger.debug({ proxy: this.node.id, typeUrl, nonce, current: sub.nonce }, 'stale nonce ignored');
      return;
    }
    if (sub && nonce) this.acknowledge(sub, typeUrl, req);

    const requested = req.resource_names ?? [];
    const wildcard = requested.includes('*') || (requested.length === 0 && wildcardTypes.has(typeUrl));
    const names = new Set(requested.filter((n) => n !== '*'));
    const changed = !sub || !nonce || sub.wildcard !== wildcard || !sameSet(sub.names, names);
    if (!changed) return;
    if (sub) {
      sub.wildcard = wildcard;
      sub.names = names;
    } else {
      this.subs.set(typeUrl, { wildcard, names, nonce: '', sentVersion: '', ackedVersion: null, sent: new Map() });
      // a type subscribed but not yet ACKed means the proxy does not hold a whole version any more
      this.host.registry.updateStatus(this.node.id, { ackedVersion: this.ackedVersion() });
    }
    // named listeners can change the snapshot itself (a proxyless client's target)
    const before = this.subs.get(typeUrl)!.nonce;
    if (!this.snapshot || typeUrl === typeUrls.listener) this.refresh();
    // a (changed) subscription is always answered, with every resource it names
    if (this.subs.get(typeUrl)!.nonce === before) this.send(typeUrl);
  }

  private acknowledge(sub: Subscription, typeUrl: string, req: DiscoveryRequest): void {
    const id = this.node!.id;
    const error = req.error_detail;
    const registry = this.host.registry;
    if (error && (error.message || error.code)) {
      const lastNack = { version: sub.sentVersion, error: error.message ?? `code ${error.code}`, typeUrl };
      registry.updateStatus(id, { lastNack });
      this.host.logger.warn({ proxy: id, typeUrl, version: sub.sentVersion, error: lastNack.error }, 'proxy rejected config (NACK)');
      return;
    }
    sub.ackedVersion = req.version_info ?? sub.sentVersion;
    const lastNack = registry.get(id)?.lastNack;
    if (lastNack && lastNack.typeUrl === typeUrl && Number(sub.ackedVersion) > Number(lastNack.version)) registry.updateStatus(id, { lastNack: null });
    registry.updateStatus(id, { ackedVersion: this.ackedVersion(), ackedRevision: this.ackedRevision() });
  }

  private noteRevision(version: number, revision: number): void {
    if (revision > (this.versionRevisions.get(version) ?? -1)) this.versionRevisions.set(version, revision);
    for (const v of this.versionRevisions.keys()) if (v < version - 16) this.versionRevisions.delete(v);
    const status: { sentRevision: number; ackedRevision?: number | null } = { sentRevision: this.versionRevisions.get(this.version) ?? 0 };
    const acked = this.ackedRevision();
    if (acked !== null) status.ackedRevision = acked;
    this.host.registry.updateStatus(this.node!.id, status);
  }

  /** The store revision the ACKed snapshot reflects: that of the ACKed version, newest first. */
  private ackedRevision(): number | null {
    const acked = this.ackedVersion();
    if (acked === null) return null;
    const v = Number(acked);
    let best: number | null = null;
    // an ACK of version v means the proxy holds v; a revision noted for v (or, if v is older than
    // what the map keeps, none) is what it reflects
    for (const [version, revision] of this.versionRevisions) if (version <= v && (best === null || revision > best)) best = revision;
    return best;
  }

  /**
   * The highest snapshot version the proxy holds for every subscribed type. A type whose last
   * response is ACKed holds the current version: anything of it that changed since was sent.
   */
  private ackedVersion(): string | null {
    let min = Infinity;
    for (const sub of this.subs.values()) {
      if (sub.ackedVersion === null || sub.ackedVersion === '') return null;
      min = Math.min(min, sub.ackedVersion === sub.sentVersion ? this.version : Number(sub.ackedVersion));
    }
    return Number.isFinite(min) ? String(min) : null;
  }

  /** Writes a response for the type: `names` (those that changed), or every name the subscription gets. */
  private send(typeUrl: string, names?: readonly string[]): void {
    const sub = this.subs.get(typeUrl);
    if (!sub || !this.snapshot || this.ended) return;
    const available = this.snapshot.resources.get(typeUrl) ?? new Map<string, never>();
    const digests = this.snapshot.digests.get(typeUrl) ?? new Map<string, string>();
    const list = names ?? this.namesFor(sub, available);
    if (!names || fullStateTypes.has(typeUrl)) {
      // a whole answer: the proxy now holds exactly these
      sub.sent = new Map();
    }
    for (const n of [...sub.sent.keys()]) if (!sub.wildcard && !sub.names.has(n)) sub.sent.delete(n);
    for (const n of list) sub.sent.set(n, digests.get(n)!);
    sub.nonce = this.host.nextNonce();
    sub.sentVersion = String(this.version);
    this.host.registry.updateStatus(this.node!.id, { sentVersion: sub.sentVersion });
    this.host.countResponse?.(list.length);
    this.call.write({ version_info: sub.sentVersion, resources: list.map((n) => available.get(n)!), type_url: typeUrl, nonce: sub.nonce });
  }

  private fail(code: status, details: string): void {
    this.host.logger.warn({ peer: this.call.getPeer(), code, details }, 'ADS stream refused');
    this.call.emit('error', { code, details });
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.node && !this.host.closing) {
      this.host.registry.disconnect(this.node.id, this.session);
      this.host.logger.info({ proxy: this.node.id }, 'proxy disconnected');
    }
    this.host.streamEnded(this);
  }
}

function orderOf(typeUrl: string): number {
  const i = (adsOrder as readonly string[]).indexOf(typeUrl);
  return i < 0 ? adsOrder.length : i;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
