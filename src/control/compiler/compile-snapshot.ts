import type { Resource } from '../../resources/kinds.js';
import type { NodeInfo } from '../../xds/node.js';
import { typeUrls } from '../../xds/type-urls.js';
import type { Instance } from '../registry.js';
import { compileClusters } from './compile-clusters.js';
import { compileEndpoints } from './compile-endpoints.js';
import { compileApiListener, compileListeners } from './compile-listeners.js';
import { buildOutboundRoutes, compileServiceRoutes, compileVirtualHost, type RouteCompileOptions } from './compile-routes.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { compileExternalClusters } from './compile-external-services.js';
import type { XdsObject } from './xds-object.js';
import { expectedIdentities, hasCertifiedMember, secureCluster, secureEndpoints, secureInboundListener, type SecurityInput } from './compile-mesh-security.js';
import { indexMesh, type MeshIndex } from './mesh-index.js';
import { egressScope, type EgressScope } from './egress-scope.js';
import { digestKey } from './compile-cache.js';
import { compileTcpListeners, inboundTcpCluster, inboundTcpPorts, tcpPlan, type TcpPlan } from './compile-tcp.js';
import { nodeInService } from './compile-authorization.js';
import { compileDetectListeners, detectPorts, type DetectServicePort } from './compile-detect.js';
import { durationFromMs } from './xds-object.js';

export interface MeshState {
  resources: readonly Resource[];
  instances: readonly Instance[];
  /** Proxies that hold a valid certificate from the CA: their endpoints get mTLS. */
  certified?: ReadonlySet<string>;
}

/** One proxy's config: per type URL, the resources by name. */
export type Snapshot = Map<string, Map<string, XdsObject>>;

export interface SnapshotOptions {
  /** A gRPC client without a sidecar (grpc-js-xds): no Trellis extensions, round robin only. */
  proxyless?: boolean;
}

/**
 * Everything one proxy should hold (docs/xds.md). `listenerNames` are listeners a client asked
 * for by name; names that are not a sidecar listener but name a service (a proxyless gRPC
 * client's `xds:///` target) get an API listener.
 */
export function compileSnapshot(state: MeshState, node: NodeInfo, listenerNames: readonly string[] = [], opts: SnapshotOptions = {}): Snapshot {
  return compileProxySnapshot(indexMesh(state), node, listenerNames, opts);
}

/**
 * compileSnapshot over a mesh index shared by every proxy of a refresh pass. Resources that do
 * not depend on the node itself (clusters, endpoints by locality, virtual hosts, route tables by
 * view) come from the index's cache, so proxies with the same view share them and a pass only
 * compiles what changed.
 */
export function compileProxySnapshot(index: MeshIndex, node: NodeInfo, listenerNames: readonly string[] = [], opts: SnapshotOptions = {}): Snapshot {
  const proxyless = opts.proxyless ?? false;
  const { policies, attached } = index;
  const security = securityInput(index);
  const view = sharedView(index, node, proxyless, security);

  // raw TCP (compile-tcp.ts): not for proxyless clients, which speak gRPC only
  const tcp = proxyless ? null : tcpPlanOf(index);
  const belongs = (key: string): boolean => {
    const svc = index.byKey.get(key);
    return svc !== undefined && nodeInService(node, svc);
  };
  const tcpInbound = tcp === null || !node.app ? [] : inboundTcpPorts(tcp, belongs, tcp.detect);
  const listeners = new Map<string, XdsObject>();
  for (const l of nodeListeners(index, node, proxyless, security, tcpInbound)) listeners.set(l.name as string, l);
  if (tcp !== null) {
    const reachable = new Set(view.scope.services.map((s) => s.key));
    for (const l of compileTcpListeners(tcp, node, reachable, tcpInbound)) listeners.set(l.name as string, l);
    // protocol detection on auto ports (compile-detect.ts); the node's own Services' ports are its app's
    const ownPorts = node.app ? [...tcpInbound, ...tcp.detect.filter((p) => belongs(p.key)).map((p) => p.port)] : [];
    const cached = (key: string, make: () => XdsObject) => index.cache.get(`${key}\0${index.meshPrint}`, make);
    for (const l of compileDetectListeners(tcp.detect, node, reachable, ownPorts, index.detectionTimeoutMs, index.telemetry, cached)) listeners.set(l.name as string, l);
  }
  for (const name of listenerNames) {
    if (listeners.has(name)) continue;
    const svc = serviceForTarget(name, index.services, node.namespace);
    if (svc) listeners.set(name, compileApiListener(name, compileServiceRoutes(svc, attached.get(svc.key) ?? [], { policies, proxyless })));
  }
  let clusters = view.clusters;
  if (node.app) {
    const own = index.services.find((s) => s.key === serviceKey(node.service, node.namespace));
    const [local] = compileClusters([], node, policies, proxyless, own);
    clusters = new Map(clusters);
    clusters.set(local.name as string, index.cache.get(`cds-local\0${JSON.stringify(local)}`, () => local));
    for (const port of tcpInbound) {
      const c = inboundTcpCluster(node.app, port, durationFromMs(1000));
      clusters.set(c.name as string, index.cache.get(`cds-tcp\0${JSON.stringify(c)}`, () => c));
    }
  }
  return new Map([
    [typeUrls.cluster, clusters],
    [typeUrls.clusterLoadAssignment, view.endpoints],
    [typeUrls.listener, listeners],
    [typeUrls.routeConfiguration, view.routes],
  ]);
}

/** What every proxy of one view holds alike: mesh clusters, endpoints as seen from its locality, its route table. */
interface SharedView {
  scope: EgressScope;
  clusters: Map<string, XdsObject>;
  endpoints: Map<string, XdsObject>;
  routes: Map<string, XdsObject>;
}

/**
 * The part of a snapshot that depends only on the proxy's view: its namespace, locality, egress
 * list, ingress target and kind (sidecar or proxyless), not on its own address or ports.
 * Computed once per view and pass; proxies of one service and locality share it.
 */
function sharedView(index: MeshIndex, node: NodeInfo, proxyless: boolean, security: SecurityInput): SharedView {
  const viewKey = [proxyless, node.namespace, node.region, node.zone, node.ingressFor ?? '', node.egress ? [...node.egress].sort().join(',') : '*'].join('\0');
  const known = index.views.get(viewKey) as SharedView | undefined;
  if (known) return known;
  const { cache, policies, attached } = index;
  const scope = egressScope(index, node);
  const routeOpts: RouteCompileOptions = { policies, proxyless };

  const clusters = new Map<string, XdsObject>();
  for (const svc of scope.services) {
    const secured = !proxyless && hasCertifiedMember(svc, security);
    clusters.set(svc.key, cache.get(`cds\0${svc.key}\0${proxyless}\0${clusterPrint(index, svc, proxyless, secured, security)}`, () => {
      const [cluster] = compileClusters([svc], { ...node, app: undefined }, policies, proxyless, undefined, index.h2UpgradePolicy);
      return secured ? secureCluster(cluster, svc, security) : cluster;
    }));
  }
  for (const ext of scope.externals) {
    const made = cache.get(`cds-ext\0${proxyless}\0${digestKey(JSON.stringify(ext))}`, () => compileExternalClusters(ext, proxyless));
    for (const c of made) clusters.set(c.name as string, c);
  }

  const endpoints = new Map<string, XdsObject>();
  for (const svc of scope.services) {
    const key = `eds\0${svc.key}\0${node.region}\0${node.zone}\0${proxyless}\0${index.membersPrint(svc)}`;
    endpoints.set(svc.key, cache.get(key, () => {
      const members = index.members(svc);
      const cla = compileEndpoints(svc, members, node);
      return proxyless ? cla : secureEndpoints(cla, { ...security, instances: members });
    }));
  }

  // the virtual IP and ports are domains of the virtual host (service-addresses.ts)
  const addressPrint = (svc: MeshService) => `${svc.address ?? ''}\0${(svc.ports ?? []).map((p) => `${p.port}/${p.protocol}`).join(',')}`;
  const vhostKeys = new Map(scope.services.map((svc) => [svc, `vh\0${svc.key}\0${svc.namespace === node.namespace}\0${proxyless}\0${addressPrint(svc)}\0${index.routesPrint(svc.key)}`]));
  const extPrint = scope.externals.map((e) => `${JSON.stringify(e)}\0${index.routesPrint(serviceKey(e.metadata.name, e.metadata.namespace ?? 'default'))}`);
  const ingressPrint = node.ingressFor ? `${node.namespace}\0${node.ingressFor}` : '';
  const routesKey = `rds\0${proxyless}\0${digestKey([...vhostKeys.values(), ...extPrint, ingressPrint].join('\u0001'))}`;
  const routes = cache.get(routesKey, () => buildOutboundRoutes({
    services: scope.services, externals: scope.externals, attached, opts: routeOpts,
    virtualHost: (svc) => cache.get(vhostKeys.get(svc)!, () => compileVirtualHost(svc, node, attached, routeOpts)),
  }, node));

  const view: SharedView = { scope, clusters, endpoints, routes: new Map([[routes.name as string, routes]]) };
  index.views.set(viewKey, view);
  return view;
}

function securityInput(index: MeshIndex): SecurityInput {
  let input = index.views.get('\0security') as SecurityInput | undefined;
  if (!input) {
    input = { resources: index.state.resources, instances: index.state.instances, services: index.services, certified: index.certified, members: index.members };
    index.views.set('\0security', input);
  }
  return input;
}

/** The tcp ports, and the auto ports whose listeners detect (they yield the port numbers tcp ports hold). */
type PortPlan = TcpPlan & { detect: DetectServicePort[] };
const tcpPlans = new WeakMap<MeshIndex, PortPlan>();

/** The mesh's tcp and auto port plan, made once per index (a refresh pass), not once per proxy. */
function tcpPlanOf(index: MeshIndex): PortPlan {
  let plan = tcpPlans.get(index);
  if (plan === undefined) {
    const tcp = tcpPlan(index.state.resources);
    plan = { ...tcp, detect: detectPorts(index.state.resources, new Set(tcp.ports.map((p) => p.port))) };
    tcpPlans.set(index, plan);
  }
  return plan;
}

/** The listeners of one node (its addresses and ports are its own), cached while their inputs stay. */
function nodeListeners(index: MeshIndex, node: NodeInfo, proxyless: boolean, security: SecurityInput, tcpInbound: readonly number[]): XdsObject[] {
  const authz = proxyless || !node.app ? [] : index.authorizationPolicies.filter((p) => (p.metadata.namespace ?? 'default') === node.namespace
    && (!p.spec.targetRef || nodeInTarget(index, node, p.spec.targetRef.name)));
  const key = `lds\0${proxyless}\0${index.meshPrint}\0${nodePrint(node)}\0${tcpInbound.join(',')}\0${authz.length ? digestKey(JSON.stringify(authz)) : ''}`;
  return index.cache.get(key, () => {
    const listeners = compileListeners(node, proxyless ? {} : index.telemetry, tcpInbound);
    if (proxyless || !node.app) return listeners;
    return listeners.map((l) => (l.name === 'inbound' ? secureInboundListener(l, security, node) : l));
  });
}

// a stream's node never changes: its fingerprint is worked out once
const nodePrints = new WeakMap<NodeInfo, string>();

function nodePrint(node: NodeInfo): string {
  let p = nodePrints.get(node);
  if (p === undefined) {
    p = digestKey(JSON.stringify(node));
    nodePrints.set(node, p);
  }
  return p;
}

function nodeInTarget(index: MeshIndex, node: NodeInfo, name: string): boolean {
  const svc = index.byKey.get(serviceKey(name, node.namespace));
  if (!svc) return false;
  if (!svc.selector) return svc.name === node.service;
  const labels: Record<string, string> = { ...node.labels, app: node.service };
  return Object.entries(svc.selector).every(([k, v]) => labels[k] === v);
}

/** What a service's cluster depends on: its policy and, with mTLS, the identities its peers may hold. */
function clusterPrint(index: MeshIndex, svc: MeshService, proxyless: boolean, secured: boolean, security: SecurityInput): string {
  const policy = proxyless ? null : index.policies.services.get(svc.key) ?? null;
  return digestKey(JSON.stringify([policy, secured ? expectedIdentities(svc, security) : null, index.h2UpgradePolicy]));
}

/** `greeter`, `greeter:50051`, `greeter.ns`, `greeter.ns.svc[.cluster.local]` → that service. */
export function serviceForTarget(target: string, services: readonly MeshService[], namespace: string): MeshService | undefined {
  const host = target.replace(/:\d+$/, '').replace(/\.svc(\.cluster\.local)?$/, '');
  const dot = host.indexOf('.');
  const key = dot < 0 ? serviceKey(host, namespace) : host;
  return services.find((s) => s.key === key);
}
