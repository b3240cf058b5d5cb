// Raw TCP between sidecars (docs/protocols.md). A Service port declared `protocol: tcp` gives
// every sidecar an outbound listener on its pod address at that port: the app connects to
// `<its pod address>:<port>` and the sidecar proxies the connection, as opaque bytes, to one
// endpoint of the service (picked per connection), tunnelled in an HTTP/1.1 CONNECT over mTLS to
// the peer's inbound listener (Envoy's tcp_proxy with tunneling_config, Istio's HBONE idea on
// HTTP/1.1). The peer's inbound listener terminates the CONNECT (a route with connect_matcher and
// upgrade_configs CONNECT, Envoy's way) and connects to its app at the target port.
//
// One port number on a pod address can hold one listener: two Services declaring the same tcp
// port clash (the older keeps it), and a port that is the pod's own app port or one of the
// sidecar's ports is never bound there. Both are reported in the Service's status.
import type { Resource } from '../../resources/kinds.js';
import type { Service } from '../../resources/service.js';
import type { NodeInfo } from '../../xds/node.js';
import { typeUrls } from '../../xds/type-urls.js';
import type { Instance } from '../registry.js';
import { serviceKey, type MeshService } from './mesh-services.js';
import { packMessage } from './pack.js';
import { compareStrings, durationFromMs, socketAddress, type XdsObject } from './xds-object.js';

/** Envoy's tcp_proxy idle_timeout default. */
export const TCP_IDLE_TIMEOUT_MS = 3_600_000;
/** Connect attempts per connection (the first and two more on other endpoints), like the HTTP default of 2 retries of connect failures. */
export const TCP_CONNECT_ATTEMPTS = 3;
/** Ports the sidecar and the control plane use themselves (shared/DESIGN.md §4). */
export const reservedPorts: ReadonlySet<number> = new Set([15000, 15001, 15006, 15010, 15080]);

export interface TcpServicePort {
  /** `<service>.<namespace>`: the cluster. */
  key: string;
  name: string;
  namespace: string;
  /** Where apps connect (on their own pod address). */
  port: number;
  /** Where the service's app listens (on its app address). */
  targetPort: number;
}

export interface TcpPlan {
  /** The tcp ports that get listeners, each port number once, ordered by port. */
  ports: TcpServicePort[];
  /** Why a Service's tcp port has no listener anywhere, by service key. */
  conflicts: Map<string, string[]>;
}

function created(s: Service): string {
  return (s.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

/** Every tcp port of the Service resources; the older Service keeps a port number two of them declare. */
export function tcpPlan(resources: readonly Resource[]): TcpPlan {
  const services = resources.filter((r): r is Service => r.kind === 'Service')
    .sort((a, b) => compareStrings(created(a), created(b))
      || compareStrings(a.metadata.namespace ?? 'default', b.metadata.namespace ?? 'default') || compareStrings(a.metadata.name, b.metadata.name));
  const byPort = new Map<number, TcpServicePort>();
  const conflicts = new Map<string, string[]>();
  const note = (key: string, msg: string) => {
    const list = conflicts.get(key) ?? [];
    list.push(msg);
    conflicts.set(key, list);
  };
  for (const s of services) {
    const namespace = s.metadata.namespace ?? 'default';
    const key = serviceKey(s.metadata.name, namespace);
    for (const [i, p] of s.spec.ports.entries()) {
      if (p.protocol !== 'tcp') continue;
      const at = `spec.ports[${i}] (${p.port}/tcp)`;
      if (reservedPorts.has(p.port)) {
        note(key, `${at}: port ${p.port} is reserved for the sidecar and control plane; no TCP listener`);
        continue;
      }
      const owner = byPort.get(p.port);
      if (owner) {
        note(key, `${at}: Service ${owner.namespace}/${owner.name} (older) declares tcp port ${p.port} too and keeps it; no TCP listener for this one`);
        continue;
      }
      byPort.set(p.port, { key, name: s.metadata.name, namespace, port: p.port, targetPort: p.targetPort ?? p.port });
    }
  }
  return { ports: [...byPort.values()].sort((a, b) => a.port - b.port), conflicts };
}

/** Why this node cannot bind `port` on its pod address, or null: its app listens there, or the sidecar does. */
export function nodePortClash(node: Pick<NodeInfo, 'address' | 'app' | 'inboundPort' | 'outboundPort' | 'adminPort'>, port: number): string | null {
  if (node.app && node.app.port === port && (node.app.address === node.address || node.app.address === '0.0.0.0')) {
    return `its app listens on ${node.app.address}:${port}`;
  }
  if (port === node.inboundPort || port === node.outboundPort || port === node.adminPort) return `the sidecar itself uses port ${port}`;
  return null;
}

/** Per-proxy clashes of a service's tcp ports, for the Service's status. `belongsTo`: is the instance a member of that service? */
export function nodeClashes(plan: TcpPlan, key: string, instances: readonly Instance[], belongsTo: (inst: Instance, key: string) => boolean): string[] {
  const out: string[] = [];
  for (const p of plan.ports) {
    if (p.key !== key) continue;
    for (const inst of instances) {
      // members serve the port themselves (their app holds it): no clash to report
      if (belongsTo(inst, p.key)) continue;
      const why = nodePortClash(inst, p.port);
      if (why) out.push(`proxy ${inst.proxyId}: no TCP listener on ${inst.address}:${p.port} (${why})`);
    }
  }
  return out.sort();
}

/**
 * The outbound TCP listeners of one node: one per planned port whose service it may reach
 * (`reachable`: its egress scope), except where the port clashes on this node. `ownPorts`: the
 * tcp ports its own app serves (it belongs to those services): the app holds them, so the node
 * gets no outbound listener there (a pod does not call its own service over TCP through the mesh).
 */
export function compileTcpListeners(plan: TcpPlan, node: NodeInfo, reachable: ReadonlySet<string>, ownPorts: readonly number[] = []): XdsObject[] {
  const out: XdsObject[] = [];
  for (const p of plan.ports) {
    if (!reachable.has(p.key) || nodePortClash(node, p.port) !== null || ownPorts.includes(p.port)) continue;
    out.push({
      name: `tcp|${p.port}`,
      address: socketAddress(node.address, p.port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [tcpProxyFilter(p)] }],
    });
  }
  return out;
}

export function tcpProxyFilter(p: TcpServicePort): XdsObject {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: packMessage(typeUrls.tcpProxy, {
      stat_prefix: `${p.key}:${p.port}`,
      cluster: p.key,
      idle_timeout: durationFromMs(TCP_IDLE_TIMEOUT_MS),
      max_connect_attempts: { value: TCP_CONNECT_ATTEMPTS },
      // the peer's inbound reads the port from here; the name says which service was meant
      tunneling_config: { hostname: `${p.key}:${p.targetPort}` },
    }),
  };
}

/**
 * The target ports a peer may open a CONNECT tunnel to on this node: those of the tcp ports, and
 * of the auto ports (`detect`: their TCP path tunnels too), of the services it belongs to.
 */
export function inboundTcpPorts(plan: TcpPlan, belongs: (key: string) => boolean, detect: readonly TcpServicePort[] = []): number[] {
  return [...new Set([...plan.ports, ...detect].filter((p) => belongs(p.key)).map((p) => p.targetPort))].sort((a, b) => a - b);
}

export function inboundTcpClusterName(port: number): string {
  return `inbound|tcp|${port}`;
}

/** The inbound route that terminates a CONNECT for one target port (Envoy: connect_matcher + upgrade_configs CONNECT). */
export function inboundConnectRoute(port: number): XdsObject {
  return {
    name: `tcp|${port}`,
    match: { connect_matcher: {}, headers: [{ name: ':authority', string_match: { suffix: `:${port}` } }] },
    route: { cluster: inboundTcpClusterName(port), upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] },
  };
}

/** The static cluster of the local app at one target port. */
export function inboundTcpCluster(app: { address: string; port: number }, port: number, connectTimeout: XdsObject): XdsObject {
  const name = inboundTcpClusterName(port);
  return {
    name,
    type: 'STATIC',
    connect_timeout: connectTimeout,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(app.address, port) } }] }] },
  };
}

/** The Service keys a mesh knows, for membership tests. */
export function keysOf(services: readonly MeshService[]): Set<string> {
  return new Set(services.map((s) => s.key));
}
