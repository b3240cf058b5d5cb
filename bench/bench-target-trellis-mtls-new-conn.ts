// `trellis-mesh-mtls-new-conn` and `trellis-mesh-mtls-new-conn-h2`: the `trellis-mesh-mtls` path
// (same control plane and sidecars) to Services over the same `bench-app` instances whose
// ResiliencePolicy sets connectionPool.maxRequestsPerConnection 1 (keep-alive off, as Istio's):
// the client sidecar opens a new mTLS connection per request, resuming its TLS session.
// `-new-conn` takes the hop's protocol from the mesh (h2UpgradePolicy DO_NOT_UPGRADE, the
// default: an HTTP/1.1 socket per request); `-new-conn-h2` sets h2UpgradePolicy UPGRADE on its
// Service: an HTTP/2 session per request. Before it is measured each must show, on the client
// sidecar's counters, one outbound handshake and one connection spent at the limit per request,
// and `-new-conn-h2` that its cluster really speaks h2 to the peer.
import { upstreamBodyBytes, type benchAddresses } from './bench-addresses.js';
import { expectUpstreamBody, httpGet, pollHttp } from './bench-http-probe.js';
import type { TargetName } from './bench-options.js';
import { adminDump, counter, outboundHandshakes } from './bench-sidecar-admin.js';
import type { StartedTarget } from './bench-target.js';

interface NewConnVariant {
  readonly name: TargetName;
  /** The Service (selecting the `bench-app` instances) whose connections carry one request each. */
  readonly service: string;
  /** connectionPool.h2UpgradePolicy of its ResiliencePolicy; null: the MeshConfig's. */
  readonly h2UpgradePolicy: 'UPGRADE' | null;
}

export const newConnVariants: readonly NewConnVariant[] = [
  { name: 'trellis-mesh-mtls-new-conn', service: 'bench-app-new-conn', h2UpgradePolicy: null },
  { name: 'trellis-mesh-mtls-new-conn-h2', service: 'bench-app-new-conn-h2', h2UpgradePolicy: 'UPGRADE' },
];

/** The variants' Services and ResiliencePolicies (YAML documents to append to the mesh's). */
export function newConnResources(appService: string): string {
  return newConnVariants.map((v) => `---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${v.service} }
spec: { selector: { app: ${appService} } }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: ${v.service} }
spec:
  targetRef: { kind: Service, name: ${v.service} }
  connectionPool: { maxRequestsPerConnection: 1${v.h2UpgradePolicy === null ? '' : `, h2UpgradePolicy: ${v.h2UpgradePolicy}`} }
`).join('');
}

/** The client sidecar's connections to `service` closed for maxRequestsPerConnection. */
const spentCounter = (service: string): string => `trellis_upstream_connections_max_requests_total{cluster="${service}.default"}`;

/** What carries requests to `service` between the sidecars: the client sidecar's cluster (wrk speaks HTTP/1.1). */
async function hopProtocol(clientPod: string, service: string): Promise<'h2' | 'http/1.1'> {
  const clusters = (await adminDump(clientPod)).clusters as Array<{ name?: string; upstreamProtocol?: string }> | undefined;
  return clusters?.find((c) => c.name === `${service}.default`)?.upstreamProtocol === 'h2' ? 'h2' : 'http/1.1';
}

/** Requests to `service` make one outbound handshake each and spend one connection each: the limit at work, not failures. */
async function provesConnectionPerRequest(clientPod: string, url: string, service: string): Promise<string | null> {
  const handshakesBefore = await counter(clientPod, outboundHandshakes);
  const spentBefore = await counter(clientPod, spentCounter(service));
  const requests = 5;
  for (let i = 0; i < requests; i++) {
    const r = await httpGet(url, service, 2000);
    const problem = r instanceof Error ? r.message : expectUpstreamBody(upstreamBodyBytes)(r);
    if (problem !== null) return `request ${i + 1}: ${problem}`;
  }
  const made = (await counter(clientPod, outboundHandshakes)) - handshakesBefore;
  if (made < requests) return `${requests} requests made ${made} mTLS handshakes: the connections were reused`;
  const spent = (await counter(clientPod, spentCounter(service))) - spentBefore;
  return spent >= requests ? null : `${requests} requests spent ${spent} connections at maxRequestsPerConnection 1 (${spentCounter(service)})`;
}

/** The client sidecar's outbound handshakes and spent connections over the whole bench (what a connection per request costs). */
async function outboundCounts(clientPod: string, service: string): Promise<string> {
  const full = await counter(clientPod, `${outboundHandshakes},resumed="false"}`);
  const resumed = await counter(clientPod, `${outboundHandshakes},resumed="true"}`);
  const spent = await counter(clientPod, spentCounter(service));
  return `the client sidecar made ${full} full and ${resumed} resumed TLS handshakes over the whole bench (all targets), ` +
    `and closed ${spent} connections to ${service} after their one request`;
}

export interface NewConnPath {
  readonly addresses: typeof benchAddresses.mtls;
  /** The client sidecar's outbound listener. */
  readonly url: string;
  readonly proxyPids: readonly number[];
  /** Why the path cannot carry requests any longer (a process exited), or null. */
  readonly exited: () => string | null;
  readonly baseline: TargetName;
}

/** The wanted variants, each checked to open a connection per request before it is measured. */
export async function startNewConnTargets(path: NewConnPath, wanted: ReadonlySet<TargetName>): Promise<StartedTarget[]> {
  const targets: StartedTarget[] = [];
  const clientPod = path.addresses.clientPod;
  for (const v of newConnVariants) {
    if (!wanted.has(v.name)) continue;
    const ready = await pollHttp(path.url, v.service, 20_000, expectUpstreamBody(upstreamBodyBytes), path.exited);
    const protocol = await hopProtocol(clientPod, v.service);
    const problem = ready
      ?? (v.h2UpgradePolicy === 'UPGRADE' && protocol !== 'h2' ? `the client sidecar's cluster ${v.service}.default does not speak h2 to the peer` : null)
      ?? await provesConnectionPerRequest(clientPod, path.url, v.service);
    targets.push(problem !== null
      ? { name: v.name, skipped: `no new connection per request: ${problem}` }
      : {
        name: v.name, url: path.url, hostHeader: v.service, hops: 2, proxyPids: path.proxyPids, baseline: path.baseline,
        note: `Service ${v.service} (the same instances) with connectionPool.maxRequestsPerConnection 1` +
          `${v.h2UpgradePolicy === null ? '' : ` and h2UpgradePolicy ${v.h2UpgradePolicy}`}: a new mTLS connection ` +
          `(${protocol === 'h2' ? 'an HTTP/2 session' : 'an HTTP/1.1 socket'}) from the client sidecar per request (TLS session resumed), ` +
          `checked before measuring; compare with ${path.baseline} (keep-alive) in the same run`,
        afterRuns: () => outboundCounts(clientPod, v.service),
      });
  }
  return targets;
}
