// Protocol detection on Service ports that declare no protocol (`auto`, docs/protocols.md). Each
// such port of each reachable service gives a sidecar one listener in Envoy's (and Istio's) shape:
// the TLS and HTTP inspectors as listener filters, `listener_filters_timeout` from the MeshConfig's
// protocolDetectionTimeout with `continue_on_listener_filters_timeout`, a filter chain for what the
// HTTP inspector recognised (HTTP/1 or h2c: the outbound route table, routed like an http port) and
// a default chain (TLS, anything else, or silence until the timeout: tcp_proxy to the service's
// port, tunnelled like a tcp port's).
//
// On the pod address a port number holds one listener: tcp ports keep theirs (opaque marking
// wins), then the oldest Service declaring the port as auto binds it. On a sidecar that intercepts
// (its Node says so), every other auto port of a reachable service, and one the node cannot bind
// (its app's port, a sidecar port, a port of its own Services), still gets its listener with
// `bind_to_port: false`: the interception listener hands it the connections to that service's
// virtual IP and port (Istio's virtual listeners). Other sidecars do without those, so a large
// mesh whose Services leave the protocol out does not give every sidecar a listener per service.
import type { Resource } from '../../resources/kinds.js';
import type { Service } from '../../resources/service.js';
import { securityTypeUrls, tlsInspectorName } from '../../xds/security-extensions.js';
import type { NodeInfo } from '../../xds/node.js';
import { typeUrls } from '../../xds/type-urls.js';
import { OUTBOUND_ROUTE_CONFIG, httpConnectionManager } from './compile-listeners.js';
import { nodePortClash, reservedPorts, tcpProxyFilter, type TcpServicePort } from './compile-tcp.js';
import { serviceKey } from './mesh-services.js';
import { packMessage } from './pack.js';
import { adsConfigSource, compareStrings, durationFromMs, socketAddress, type XdsObject } from './xds-object.js';

/** Istio's and Linkerd's protocol detection timeout (MeshConfig protocolDetectionTimeout). */
export const DEFAULT_DETECTION_TIMEOUT_MS = 10_000;
export const httpInspectorName = 'envoy.filters.listener.http_inspector';
/** What Envoy's HTTP inspector sets as the connection's application protocol. */
export const detectedHttpProtocols: readonly string[] = ['http/1.0', 'http/1.1', 'h2c'];

export interface DetectServicePort extends TcpServicePort {
  /** This service holds the port number on pod addresses (no tcp port and no older auto port has it). */
  holdsPodPort: boolean;
}

function created(s: Service): string {
  return (s.metadata as { creationTimestamp?: string }).creationTimestamp ?? '';
}

/** Every auto port of the Service resources, ordered by port then age; `tcpPorts`: the numbers tcp listeners hold. */
export function detectPorts(resources: readonly Resource[], tcpPorts: ReadonlySet<number>): DetectServicePort[] {
  const services = resources.filter((r): r is Service => r.kind === 'Service')
    .sort((a, b) => compareStrings(created(a), created(b))
      || compareStrings(a.metadata.namespace ?? 'default', b.metadata.namespace ?? 'default') || compareStrings(a.metadata.name, b.metadata.name));
  const held = new Set<number>(tcpPorts);
  const out: DetectServicePort[] = [];
  for (const s of services) {
    const namespace = s.metadata.namespace ?? 'default';
    for (const p of s.spec.ports) {
      if (p.protocol !== 'auto') continue;
      const holdsPodPort = !held.has(p.port) && !reservedPorts.has(p.port);
      held.add(p.port);
      out.push({ key: serviceKey(s.metadata.name, namespace), name: s.metadata.name, namespace, port: p.port, targetPort: p.targetPort ?? p.port, holdsPodPort });
    }
  }
  return out.sort((a, b) => a.port - b.port || (a.holdsPodPort === b.holdsPodPort ? 0 : a.holdsPodPort ? -1 : 1) || compareStrings(a.key, b.key));
}

export function detectListenerName(p: Pick<TcpServicePort, 'key' | 'port'>): string {
  return `auto|${p.key}|${p.port}`;
}

/**
 * The detecting listeners of one node: one per auto port of each service it may reach
 * (`reachable`). `ownPorts`: the ports of its own Services (the app holds them). Bound on the pod
 * address only where the service holds the port number and the node can bind it. `telemetry`: the
 * HCM's access log and tracing, as on the outbound listener whose route table the HTTP chain uses;
 * `cached` must key on it too (the caller's cache does, by the mesh's MeshConfig print).
 */
export function compileDetectListeners(
  ports: readonly DetectServicePort[], node: NodeInfo, reachable: ReadonlySet<string>, ownPorts: readonly number[], timeoutMs: number,
  telemetry: XdsObject = {}, cached: (key: string, make: () => XdsObject) => XdsObject = (_k, make) => make(),
): XdsObject[] {
  const out: XdsObject[] = [];
  for (const p of ports) {
    if (!reachable.has(p.key)) continue;
    const binds = p.holdsPodPort && nodePortClash(node, p.port) === null && !ownPorts.includes(p.port);
    // one that binds nothing serves interception only: a sidecar that does not intercept has no use for it
    if (!binds && node.intercept !== true) continue;
    // a pass recompiles every proxy: the same inputs give the same (already packed) listener
    out.push(cached(`lds-auto\0${p.key}\0${p.port}\0${p.targetPort}\0${node.address}\0${binds}\0${timeoutMs}`, () => detectListener(p, node.address, binds, timeoutMs, telemetry)));
  }
  return out;
}

function detectListener(p: TcpServicePort, address: string, binds: boolean, timeoutMs: number, telemetry: XdsObject): XdsObject {
  return {
    name: detectListenerName(p),
    address: socketAddress(address, p.port),
    traffic_direction: 'OUTBOUND',
    ...(binds ? {} : { bind_to_port: { value: false } }),
    listener_filters: [
      { name: tlsInspectorName, typed_config: packMessage(securityTypeUrls.tlsInspector, {}) },
      { name: httpInspectorName, typed_config: packMessage(typeUrls.httpInspector, {}) },
    ],
    listener_filters_timeout: durationFromMs(timeoutMs),
    continue_on_listener_filters_timeout: true,
    filter_chains: [
      {
        name: 'http',
        filter_chain_match: { application_protocols: [...detectedHttpProtocols] },
        filters: [httpConnectionManager('outbound', { rds: { route_config_name: OUTBOUND_ROUTE_CONFIG, config_source: adsConfigSource } }, telemetry)],
      },
      { name: 'tcp', filters: [tcpProxyFilter(p)] },
    ],
  };
}
