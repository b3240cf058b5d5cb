// A listener that detects its connections' protocol (docs/xds.md, "Listeners"; a Service port
// without a protocol): the TLS and HTTP inspectors as listener filters, listener_filters_timeout
// with continue_on_listener_filters_timeout, an HTTP chain matched on application_protocols whose
// HttpConnectionManager routes by RDS, and a default chain whose only filter is tcp_proxy. Exactly
// this shape is accepted (Istio's auto-detecting outbound listener); the rest is refused.
import type { AnyMessage } from '../../xds/any.js';
import { securityTypeUrls, tlsInspectorName } from '../../xds/security-extensions.js';
import { typeUrls } from '../../xds/type-urls.js';
import type { ListenerConfig } from '../config/proxy-config.js';
import { decodeTcpProxy } from './tcp-proxy-decoder.js';
import { durationMs } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export const httpInspectorName = 'envoy.filters.listener.http_inspector';
/** Envoy's listener_filters_timeout default. */
const envoyDefaultTimeoutMs = 15_000;
/** Node's timers overflow past 2^31-1 ms; the MeshConfig allows at most 1 h anyway. */
const maxTimeoutMs = 3_600_000;
const httpProtocols = new Set(['http/1.0', 'http/1.1', 'h2c']);

/** Is this listener the detecting shape (it names the HTTP inspector)? */
export function isDetectListener(l: ProtoObject): boolean {
  return ((l.listener_filters ?? []) as ProtoObject[]).some((f) => f.name === httpInspectorName || f.typed_config?.type_url === typeUrls.httpInspector);
}

/** `decodeHttpChain`: the listener decoder's reading of a chain holding one HttpConnectionManager (its route config name). */
export function decodeDetectListener(
  name: string, addr: { address: string; port: number }, direction: ListenerConfig['direction'], l: ProtoObject,
  decodeHttpChain: (chain: ProtoObject) => DecodeResult<string>,
): DecodeResult<ListenerConfig> {
  if (direction !== 'outbound') return refused('a protocol-detecting listener (http_inspector) must be OUTBOUND');
  const lf = (l.listener_filters ?? []) as ProtoObject[];
  for (const [i, f] of lf.entries()) {
    const known = (f.name === tlsInspectorName && f.typed_config?.type_url === securityTypeUrls.tlsInspector)
      || (f.name === httpInspectorName && f.typed_config?.type_url === typeUrls.httpInspector);
    if (!known) return refused(`listener_filters[${i}] ("${f.name ?? ''}"): only the TLS inspector and the HTTP inspector are supported`);
  }
  const timeoutMs = durationMs(l.listener_filters_timeout) ?? envoyDefaultTimeoutMs;
  if (!(timeoutMs > 0 && timeoutMs <= maxTimeoutMs)) return refused(`listener_filters_timeout must be more than 0 and at most 1h, got ${timeoutMs} ms (0, "wait forever", is not supported)`);
  if (l.continue_on_listener_filters_timeout !== true) return refused('continue_on_listener_filters_timeout must be true (a silent client falls back to the TCP chain)');
  const chains = (l.filter_chains ?? []) as ProtoObject[];
  if (chains.length !== 2) return refused(`a protocol-detecting listener needs exactly two filter chains (HTTP, then TCP), got ${chains.length}`);
  const [httpChain, tcpChain] = chains;
  const match = (httpChain.filter_chain_match ?? {}) as ProtoObject;
  const protocols = (match.application_protocols ?? []) as string[];
  const otherMatch = Object.entries(match).filter(([k, v]) => k !== 'application_protocols' && v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0));
  if (otherMatch.length) return refused(`filter_chains[0].filter_chain_match.${otherMatch[0][0]} is not supported (only application_protocols)`);
  if (protocols.length === 0 || protocols.some((p) => !httpProtocols.has(p))) {
    return refused(`filter_chains[0].filter_chain_match.application_protocols must be some of http/1.0, http/1.1, h2c, got [${protocols.join(', ')}]`);
  }
  if (httpChain.transport_socket || tcpChain.transport_socket) return refused('a protocol-detecting listener takes no transport_socket (TLS passes through the TCP chain)');
  const routeConfigName = decodeHttpChain(httpChain);
  if (!routeConfigName.ok) return refused(`filter_chains[0]: ${routeConfigName.error}`);
  const tcpMatch = (tcpChain.filter_chain_match ?? {}) as ProtoObject;
  if (Object.values(tcpMatch).some((v) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0))) {
    return refused('filter_chains[1] (TCP) must have no filter_chain_match: it takes whatever is not HTTP');
  }
  const tcpFilters = (tcpChain.filters ?? []) as ProtoObject[];
  if (tcpFilters.length !== 1 || (tcpFilters[0].typed_config as AnyMessage | undefined)?.type_url !== typeUrls.tcpProxy) {
    return refused('filter_chains[1] must hold exactly one filter, tcp_proxy');
  }
  const tcp = decodeTcpProxy(tcpFilters[0].typed_config as AnyMessage);
  if (!tcp.ok) return refused(`filter_chains[1].filters[0] ("${tcpFilters[0].name ?? ''}"): ${tcp.error}`);
  const config: ListenerConfig = {
    name, address: addr.address, port: addr.port, direction, routeConfigName: routeConfigName.value, tcpProxy: tcp.value,
    detect: { timeoutMs, http1: protocols.includes('http/1.1') || protocols.includes('http/1.0'), h2c: protocols.includes('h2c') },
  };
  if (l.bind_to_port?.value === false) config.bindToPort = false;
  return decoded(config);
}
