import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { decodeNode, type NodeInfo } from '../../xds/node.js';
import { adsOrder, typeUrls } from '../../xds/type-urls.js';
import type { SnapshotOptions } from '../compiler/compile-snapshot.js';
import type { Registry } from '../registry.js';
import { XdsAuthenticator, type XdsPrincipal } from '../auth/xds-auth.js';
import type { DiscoveryRequest, DiscoveryResponse } from './ads-service-definition.js';
import { contentVersion, type EncodedSnapshot } from './encoded-snapshot.js';
import { combinedVersion } from '../../xds/xds-versions.js';

// Envoy's rule: for these types an empty resource_names list asks for everything.
const wildcardTypes = new Set<string>([typeUrls.listener, typeUrls.cluster]);
// The xDS spec: in state of the world, a Listener or Cluster response holds every resource of
// the type (one left out is deleted); other types may carry only the resources that changed.
const fullStateTypes = wildcardTypes;

interface Subscription {
  wildcard: boolean;
  names: Set<string>;
  nonce: string;
  /** The version last sent, or that the proxy said it holds when nothing had to be sent. */
  sentVersion: string;
  ackedVersion: string | null;
  /** The version of this type the proxy refused last (a later ACK of another version clears the NACK). */
  nackedVersion: string | null;
  /** The store revision the sent / the ACKed content reflects (a recompile to the same content moves it on). */
  sentRevision: number;
  ackedRevision: number | null;
  /** A request asked for this type: it is answered once, unless the proxy already holds its content. */
  pending: boolean;
  /** The version_info of that request: what the proxy holds (empty on a first subscription). */
  holds: string;
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
  /** Counts a subscription left unanswered because the proxy quoted the version it holds. */
  countHeld?(): void;
  /** The store revision the resources of the compiled snapshots reflect (0 when unknown). */
  storeRevision?(): number;
  nextNonce(): string;
  /** True while the server shuts down: streams ending then do not mean their sidecars left. */
  readonly closing: boolean;
  streamEnded(stream: AdsStream): void;
}

/**
 * One sidecar's ADS stream: registration, subscriptions, versions, nonces, ACK and NACK
 * (docs/xds.md). A type's version is a digest of the content the proxy holds of it
 * (src/xds/xds-versions.ts): a change pushes only the types it touches (Listeners and Clusters
 * whole, other types only the resources that changed), and a proxy that arrives from another
 * replica quoting the versions it holds is sent nothing it already has.
 */
export class AdsStream {
  private node?: NodeInfo;
  // grpc-js-xds (no sidecar) refuses Trellis's extensions and any balancer but round robin
  private proxyless = false;
  private session = 0;
  private readonly subs = new Map<string, Subscription>();
  private snapshot?: EncodedSnapshot;
  private ended = false;

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
   * Recompiles; pushes, in ADS order, each subscribed type that changed (Listeners and Clusters
   * whole, other types only the resources that changed) and answers pending subscriptions.
   * Returns whether it pushed anything.
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
      for (const sub of this.subs.values()) if (!sub.pending) this.unchanged(sub, revision);
      this.publishStatus();
      return false;
    }
    this.snapshot = next;
    let pushed = false;
    for (const typeUrl of [...this.subs.keys()].sort((a, b) => orderOf(a) - orderOf(b))) {
      const sub = this.subs.get(typeUrl)!;
      if (sub.pending) {
        if (this.answer(typeUrl)) pushed = true;
        continue;
      }
      const changed = this.changedNames(typeUrl);
      if (changed === null) {
        // only what the proxy does not subscribe to changed: it holds this content already
        this.unchanged(sub, revision);
        continue;
      }
      this.send(typeUrl, changed);
      pushed = true;
    }
    this.publishStatus();
    return pushed;
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
    const entry: Subscription = sub ?? {
      wildcard, names, nonce: '', sentVersion: '', ackedVersion: null, nackedVersion: null,
      sentRevision: this.host.storeRevision?.() ?? 0, ackedRevision: null, pending: true, holds: '', sent: new Map(),
    };
    entry.wildcard = wildcard;
    entry.names = names;
    entry.pending = true;
    entry.holds = req.version_info ?? '';
    if (!sub) this.subs.set(typeUrl, entry);
    // named listeners can change the snapshot itself (a proxyless client's target)
    if (!this.snapshot || typeUrl === typeUrls.listener) this.refresh();
    // a (changed) subscription is answered with every resource it names, unless the proxy holds them
    if (entry.pending) this.answer(typeUrl);
    this.publishStatus();
  }

  private acknowledge(sub: Subscription, typeUrl: string, req: DiscoveryRequest): void {
    const id = this.node!.id;
    const error = req.error_detail;
    const registry = this.host.registry;
    if (error && (error.message || error.code)) {
      sub.nackedVersion = sub.sentVersion;
      const lastNack = { version: this.sentVersion(), error: error.message ?? `code ${error.code}`, typeUrl };
      registry.updateStatus(id, { lastNack });
      this.host.logger.warn({ proxy: id, typeUrl, version: sub.sentVersion, error: lastNack.error }, 'proxy rejected config (NACK)');
      return;
    }
    sub.ackedVersion = req.version_info || sub.sentVersion;
    if (sub.ackedVersion === sub.sentVersion) sub.ackedRevision = sub.sentRevision;
    const lastNack = registry.get(id)?.lastNack;
    if (lastNack && lastNack.typeUrl === typeUrl && sub.ackedVersion !== sub.nackedVersion) {
      sub.nackedVersion = null;
      registry.updateStatus(id, { lastNack: null });
    }
    this.publishStatus();
  }

  /** Content the proxy has (or was sent) and that a recompile left as it was now reflects `revision` too. */
  private unchanged(sub: Subscription, revision: number): void {
    if (revision <= sub.sentRevision) return;
    sub.sentRevision = revision;
    if (sub.ackedVersion !== null && sub.ackedVersion === sub.sentVersion) sub.ackedRevision = revision;
  }

  /**
   * Answers a (new or changed) subscription: with every resource it names, unless the proxy said
   * it holds exactly this content (the version it quoted is the one it would be sent). Returns
   * whether it wrote.
   */
  private answer(typeUrl: string): boolean {
    const sub = this.subs.get(typeUrl);
    if (!sub || !this.snapshot || this.ended) return false;
    sub.pending = false;
    const digests = this.snapshot.digests.get(typeUrl) ?? new Map<string, string>();
    const names = this.namesFor(sub, digests);
    const version = contentVersion(this.snapshot, typeUrl, names);
    if (sub.holds !== '' && sub.holds === version) {
      // it has this content (from this replica or another on the same state): say nothing
      sub.sent = new Map(names.map((n) => [n, digests.get(n)!]));
      sub.sentVersion = version;
      sub.ackedVersion = version;
      sub.sentRevision = Math.max(sub.sentRevision, this.host.storeRevision?.() ?? 0);
      sub.ackedRevision = sub.sentRevision;
      this.host.countHeld?.();
      return false;
    }
    this.send(typeUrl);
    return true;
  }

  /** Writes a response for the type: `names` (those that changed), or every name the subscription gets. */
  private send(typeUrl: string, names?: readonly string[]): void {
    const sub = this.subs.get(typeUrl);
    if (!sub || !this.snapshot || this.ended) return;
    const available = this.snapshot.resources.get(typeUrl) ?? new Map<string, never>();
    const digests = this.snapshot.digests.get(typeUrl) ?? new Map<string, string>();
    const all = this.namesFor(sub, available);
    const list = names ?? all;
    if (!names || fullStateTypes.has(typeUrl)) {
      // a whole answer: the proxy now holds exactly these
      sub.sent = new Map();
    }
    for (const n of [...sub.sent.keys()]) if (!sub.wildcard && !sub.names.has(n)) sub.sent.delete(n);
    for (const n of list) sub.sent.set(n, digests.get(n)!);
    sub.nonce = this.host.nextNonce();
    // the version of everything the proxy holds of the type once it applies this response
    sub.sentVersion = contentVersion(this.snapshot, typeUrl, all);
    sub.sentRevision = this.host.storeRevision?.() ?? 0;
    this.host.countResponse?.(list.length);
    this.call.write({ version_info: sub.sentVersion, resources: list.map((n) => available.get(n)!), type_url: typeUrl, nonce: sub.nonce });
  }

  /** The proxy's progress as the API shows it: one version for all its types, sent and ACKed. */
  private publishStatus(): void {
    if (!this.node || this.ended) return;
    const subs = [...this.subs.entries()];
    let sentRevision = Infinity;
    let ackedRevision: number | null = Infinity;
    for (const [, sub] of subs) {
      sentRevision = Math.min(sentRevision, sub.sentRevision);
      ackedRevision = sub.ackedRevision === null || ackedRevision === null ? null : Math.min(ackedRevision, sub.ackedRevision);
    }
    const whole = subs.length > 0 && subs.every(([, sub]) => sub.ackedVersion !== null);
    this.host.registry.updateStatus(this.node.id, {
      sentVersion: subs.length ? this.sentVersion() : null,
      ackedVersion: whole ? combinedVersion(subs.map(([t, sub]) => [t, sub.ackedVersion])) : null,
      sentRevision: Number.isFinite(sentRevision) ? sentRevision : 0,
      ackedRevision: whole && ackedRevision !== null && Number.isFinite(ackedRevision) ? ackedRevision : null,
    });
  }

  private sentVersion(): string {
    return combinedVersion([...this.subs.entries()].map(([t, sub]) => [t, sub.sentVersion]));
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
