import { makeGenericClientConstructor, credentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseResources } from '../../src/resources/validate.js';
import type { Resource } from '../../src/resources/kinds.js';
import type { NodeInfo } from '../../src/xds/node.js';
import type { Clock } from '../../src/control/clock.js';
import type { Instance } from '../../src/control/registry.js';
import { adsServiceDefinition, type DiscoveryRequest, type DiscoveryResponse } from '../../src/control/xds/ads-service-definition.js';

// Test-only helpers shared by test/control/**; this file holds no tests.

/** Loopback addresses reserved for the control plane's tests. */
export const loopback = (host: number): string => `127.0.10.${host}`;

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-control-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function resources(yaml: string): Resource[] {
  const parsed = parseResources(yaml, 'test.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.resources;
}

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  private time = Date.parse('2026-01-01T00:00:00Z');
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }
}

export function nodeInfo(over: Partial<NodeInfo> = {}): NodeInfo {
  const service = over.service ?? 'api';
  const address = over.address ?? '127.0.1.1';
  return {
    id: `${service}-${address}`, service, namespace: 'default', address, inboundPort: 15006, outboundPort: 15001,
    adminPort: 15000, app: { address, port: 8080 }, labels: {}, zone: 'z1', region: 'r1', version: '0.1.0', ...over,
  };
}

export function instance(over: Partial<Instance> = {}): Instance {
  const n = nodeInfo(over as Partial<NodeInfo>);
  return {
    proxyId: over.proxyId ?? n.id, service: n.service, namespace: n.namespace, address: n.address, inboundPort: n.inboundPort,
    outboundPort: n.outboundPort, adminPort: n.adminPort, app: 'app' in over ? over.app : n.app, ingressFor: n.ingressFor,
    labels: { ...(over.labels ?? {}), app: n.service }, zone: n.zone, region: n.region, version: n.version,
    state: over.state ?? 'connected', connected: over.state ? over.state === 'connected' : true,
    connectedAt: '2026-01-01T00:00:00.000Z', disconnectedAt: null, sentVersion: null, ackedVersion: null, lastNack: null,
  };
}

/** An ADS client stream whose responses can be awaited one by one, each wait bounded. */
export class AdsTestClient {
  private readonly queue: DiscoveryResponse[] = [];
  private waiters: ((r: DiscoveryResponse) => void)[] = [];
  private readonly client: InstanceType<ReturnType<typeof makeGenericClientConstructor>>;
  readonly stream: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  readonly ended: Promise<ServiceError | null>;

  constructor(target: string) {
    const Client = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
    this.client = new Client(target, credentials.createInsecure());
    this.stream = (this.client as any).StreamAggregatedResources() as ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
    this.stream.on('data', (r: DiscoveryResponse) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.ended = new Promise((resolve) => {
      this.stream.on('error', (err: ServiceError) => resolve(err));
      this.stream.on('end', () => resolve(null));
    });
  }

  send(req: DiscoveryRequest): void {
    this.stream.write(req);
  }

  /** The responses received and not yet taken by next(), taken now. */
  takeQueued(): DiscoveryResponse[] {
    return this.queue.splice(0);
  }

  next(timeoutMs = 5000): Promise<DiscoveryResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: DiscoveryResponse): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Polls until `cond` holds; for state another process or stream updates asynchronously. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Like waitFor, for a condition that must be fetched. */
export async function pollUntil(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
