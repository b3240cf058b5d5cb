// A small state-of-the-world ADS server on @grpc/grpc-js for the client's tests (tests may load
// grpc-js; the sidecar must not). It follows docs/xds.md: wildcard LDS/CDS, named EDS/RDS, one
// version per snapshot, stale nonces ignored, and it records every request it receives.
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../../src/xds/descriptor.js';
import { adsOrder, typeUrls } from '../../../src/xds/type-urls.js';
import { packResource, type Obj, type Snapshot } from './xds-fixtures.js';

const requestType = messageType('envoy.service.discovery.v3.DiscoveryRequest');
const responseType = messageType('envoy.service.discovery.v3.DiscoveryResponse');
const toObject = { longs: Number, enums: String, defaults: true, oneofs: true } as const;

export interface SeenRequest {
  stream: number;
  version_info: string;
  node?: Obj;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string };
}

const kindOf: Record<string, keyof Snapshot> = {
  [typeUrls.cluster]: 'clusters',
  [typeUrls.clusterLoadAssignment]: 'assignments',
  [typeUrls.listener]: 'listeners',
  [typeUrls.routeConfiguration]: 'routes',
};
const wildcard = new Set<string>([typeUrls.cluster, typeUrls.listener]);

function nameOf(typeUrl: string, obj: Obj): string {
  return typeUrl === typeUrls.clusterLoadAssignment ? obj.cluster_name : obj.name;
}

interface StreamState {
  id: number;
  call: grpc.ServerDuplexStream<Obj, Obj>;
  names: Map<string, string[]>;
  nonces: Map<string, string>;
  sentVersion: Map<string, string>;
}

export class AdsTestServer {
  readonly requests: SeenRequest[] = [];
  /** Types whose responses are held back until release(). */
  readonly held = new Set<string>();
  address = '';
  private server = new grpc.Server();
  private streams = new Set<StreamState>();
  private nextStream = 1;
  private nextNonce = 1;
  private version = '1';
  private snapshot: Snapshot;
  private waiters: { pred: (r: SeenRequest) => boolean; resolve: (r: SeenRequest) => void }[] = [];

  private constructor(snapshot: Snapshot, version: string) {
    this.snapshot = snapshot;
    this.version = version;
  }

  static async start(host: string, snapshot: Snapshot, version = '1', port = 0): Promise<AdsTestServer> {
    const s = new AdsTestServer(snapshot, version);
    s.server.addService({
      StreamAggregatedResources: {
        path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        requestStream: true,
        responseStream: true,
        requestSerialize: (o: Obj) => Buffer.from(requestType.encode(requestType.fromObject(o)).finish()),
        requestDeserialize: (b: Buffer) => requestType.toObject(requestType.decode(b), toObject),
        responseSerialize: (o: Obj) => Buffer.from(responseType.encode(responseType.fromObject(o)).finish()),
        responseDeserialize: (b: Buffer) => responseType.toObject(responseType.decode(b), toObject),
        originalName: 'streamAggregatedResources',
      },
    } as grpc.ServiceDefinition, { StreamAggregatedResources: (call: grpc.ServerDuplexStream<Obj, Obj>) => s.onStream(call) });
    const bound = await new Promise<number>((resolve, reject) => {
      s.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    s.address = `${host}:${bound}`;
    return s;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Pushes a new snapshot to every stream (SotW: every subscribed type, in ADS order). */
  setSnapshot(version: string, snapshot: Snapshot): void {
    this.version = version;
    this.snapshot = snapshot;
    for (const st of this.streams) for (const url of adsOrder) if (st.names.has(url)) this.send(st, url);
  }

  release(typeUrl: string): void {
    this.held.delete(typeUrl);
    for (const st of this.streams) if (st.names.has(typeUrl) && st.sentVersion.get(typeUrl) !== this.version) this.send(st, typeUrl);
  }

  /** Resolves with the first request (already seen or future) that matches, or rejects after timeoutMs. */
  waitForRequest(pred: (r: SeenRequest) => boolean, timeoutMs = 5000, from = 0): Promise<SeenRequest> {
    const seen = this.requests.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching request within ${timeoutMs} ms; seen: ${JSON.stringify(this.requests.map((r) => [r.stream, r.type_url.split('.').pop(), r.resource_names, r.version_info, r.response_nonce, r.error_detail?.message]))}`));
      }, timeoutMs);
      const waiter = { pred, resolve: (r: SeenRequest) => { clearTimeout(timer); resolve(r); } };
      this.waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    for (const st of this.streams) st.call.destroy();
    this.streams.clear();
    this.server.forceShutdown();
  }

  private onStream(call: grpc.ServerDuplexStream<Obj, Obj>): void {
    const st: StreamState = { id: this.nextStream++, call, names: new Map(), nonces: new Map(), sentVersion: new Map() };
    this.streams.add(st);
    call.on('data', (req: Obj) => this.onRequest(st, req));
    call.on('end', () => { this.streams.delete(st); call.end(); });
    call.on('error', () => this.streams.delete(st));
    call.on('cancelled', () => this.streams.delete(st));
  }

  private onRequest(st: StreamState, req: Obj): void {
    const seen: SeenRequest = {
      stream: st.id,
      version_info: req.version_info,
      node: req.node ?? undefined,
      resource_names: req.resource_names ?? [],
      type_url: req.type_url,
      response_nonce: req.response_nonce,
      error_detail: req.error_detail ? { code: req.error_detail.code, message: req.error_detail.message } : undefined,
    };
    this.requests.push(seen);
    for (const w of [...this.waiters]) if (w.pred(seen)) { this.waiters = this.waiters.filter((x) => x !== w); w.resolve(seen); }
    const url = seen.type_url;
    if (!kindOf[url]) return;
    const lastNonce = st.nonces.get(url);
    if (lastNonce !== undefined && seen.response_nonce !== '' && seen.response_nonce !== lastNonce) return; // stale
    const before = st.names.get(url);
    st.names.set(url, seen.resource_names);
    const changed = !before || before.join(',') !== seen.resource_names.join(',');
    if (changed) this.send(st, url);
  }

  private send(st: StreamState, url: string): void {
    if (this.held.has(url)) return;
    const names = new Set(st.names.get(url) ?? []);
    const all = this.snapshot[kindOf[url]];
    const chosen = wildcard.has(url) ? all : all.filter((o) => names.has(nameOf(url, o)));
    const nonce = String(this.nextNonce++);
    st.nonces.set(url, nonce);
    st.sentVersion.set(url, this.version);
    st.call.write({ version_info: this.version, type_url: url, nonce, resources: chosen.map((o) => packResource(url, o)) });
  }
}
