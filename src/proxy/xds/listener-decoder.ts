// Listener (LDS) → ListenerConfig: one filter chain whose only network filter is the
// HttpConnectionManager, with routes from RDS over ADS or inline, and the Router as its last
// HTTP filter (docs/xds.md, "Listeners").
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { typeUrls } from '../../xds/type-urls.js';
import type { ListenerConfig } from '../config/proxy-config.js';
import { decodeRouteConfiguration } from './route-config-decoder.js';
import { decodeFilterChains, decodeRbacFilters } from './listener-security-decoder.js';
import { decodeHcmTelemetry } from './telemetry-decoder.js';
import { findUnknownTypedExtension, socketAddress } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';
import { decodeTcpProxy } from './tcp-proxy-decoder.js';
import { decodeDetectListener, isDetectListener } from './detect-listener-decoder.js';

export function decodeListener(listener: ProtoObject): DecodeResult<ListenerConfig> {
  const name = typeof listener.name === 'string' ? listener.name : '';
  if (!name) return refused('listener: name is required');
  const r = decodeNamedListener(name, listener);
  return r.ok ? r : refused(`listener "${name}": ${r.error}`);
}

function decodeNamedListener(name: string, l: ProtoObject): DecodeResult<ListenerConfig> {
  const addr = socketAddress(l.address);
  if (typeof addr === 'string') return refused(addr);
  let direction: ListenerConfig['direction'];
  if (l.traffic_direction === 'OUTBOUND') direction = 'outbound';
  else if (l.traffic_direction === 'INBOUND') direction = 'inbound';
  else return refused('traffic_direction must be INBOUND or OUTBOUND');
  if (l.api_listener) return refused('api_listener is not supported');
  if (l.default_filter_chain) return refused('default_filter_chain is not supported');
  if (l.filter_chain_matcher) return refused('filter_chain_matcher is not supported');
  if (l.additional_addresses?.length) return refused('additional_addresses are not supported');
  if (isDetectListener(l)) return decodeDetectListener(name, addr, direction, l, decodeRdsChain);
  if (l.bind_to_port?.value === false) return refused('bind_to_port false is only supported on a protocol-detecting listener');
  const chains = decodeFilterChains(l, direction);
  if (!chains.ok) return chains;
  const chain = chains.value.chain;
  if (chain.filter_chain_match && Object.keys(chain.filter_chain_match).length > 0) return refused('filter_chains[0].filter_chain_match is not supported');
  const filters = (chain.filters ?? []) as ProtoObject[];
  if (filters.length === 1 && (filters[0].typed_config as AnyMessage | undefined)?.type_url === typeUrls.tcpProxy) {
    return decodeTcpListener(name, addr, direction, filters[0], chains.value.tls !== undefined);
  }
  if (filters.length !== 1) return refused(`filter_chains[0] must hold exactly one filter (the HttpConnectionManager), got ${filters.length}`);
  const filter = filters[0];
  if (!filter.typed_config) return refused(`filter "${filter.name ?? ''}" has no typed_config`);
  const url = (filter.typed_config as AnyMessage).type_url;
  if (url !== typeUrls.httpConnectionManager) return refused(`unknown typed extension ${url || '(empty type_url)'} in filter_chains[0].filters[0] ("${filter.name ?? ''}")`);
  const fullHcm = unpackAny(filter.typed_config as AnyMessage);
  if (!fullHcm) return refused(`cannot decode ${url}`);
  const rbac = decodeRbacFilters(fullHcm, direction);
  if (!rbac.ok) return refused(`HttpConnectionManager: ${rbac.error}`);
  const hcm = rbac.value.hcm;
  // the TLS chains and inspector were checked by decodeFilterChains
  const { filter_chains: _fc, listener_filters: _lf, ...outside } = l;
  const unknownOutside = findUnknownTypedExtension({ ...outside, filter_chains: [chain] });
  if (unknownOutside) return refused(unknownOutside);

  const base: Omit<ListenerConfig, 'routeConfigName'> = { name, address: addr.address, port: addr.port, direction };
  if (chains.value.tls) base.tls = chains.value.tls;
  if (rbac.value.authz) base.authz = rbac.value.authz;
  const routes = decodeHcmRoutes(hcm);
  if (!routes.ok) return refused(`HttpConnectionManager: ${routes.error}`);
  const filtersOk = checkHttpFilters(hcm);
  if (filtersOk) return refused(`HttpConnectionManager: ${filtersOk}`);
  const unknownInside = findUnknownTypedExtension(hcm);
  if (unknownInside) return refused(`HttpConnectionManager: ${unknownInside}`);
  const telemetry = decodeHcmTelemetry(hcm);
  if (!telemetry.ok) return refused(`HttpConnectionManager: ${telemetry.error}`);
  return decoded(telemetry.value === undefined ? { ...base, ...routes.value } : { ...base, ...routes.value, telemetry: telemetry.value });
}

/** A TCP listener: the tcp_proxy network filter alone (docs/protocols.md); outbound only, without TLS chains. */
function decodeTcpListener(name: string, addr: { address: string; port: number }, direction: ListenerConfig['direction'], filter: ProtoObject, tls: boolean): DecodeResult<ListenerConfig> {
  if (direction !== 'outbound') return refused('a tcp_proxy listener must be OUTBOUND (peers reach the app through a CONNECT on the inbound listener)');
  if (tls) return refused('a tcp_proxy listener takes no TLS filter chains');
  const t = decodeTcpProxy(filter.typed_config as AnyMessage);
  if (!t.ok) return refused(`filter_chains[0].filters[0] ("${filter.name ?? ''}"): ${t.error}`);
  return decoded({ name, address: addr.address, port: addr.port, direction, routeConfigName: '', tcpProxy: t.value });
}

/** The HTTP chain of a detecting listener: one HttpConnectionManager that routes by RDS; its route config name. */
function decodeRdsChain(chain: ProtoObject): DecodeResult<string> {
  const filters = (chain.filters ?? []) as ProtoObject[];
  if (filters.length !== 1) return refused(`must hold exactly one filter (the HttpConnectionManager), got ${filters.length}`);
  const url = (filters[0].typed_config as AnyMessage | undefined)?.type_url;
  if (url !== typeUrls.httpConnectionManager) return refused(`unknown typed extension ${url || '(empty type_url)'} in filters[0] ("${filters[0].name ?? ''}")`);
  const hcm = unpackAny(filters[0].typed_config as AnyMessage);
  if (!hcm) return refused(`cannot decode ${url}`);
  if (!hcm.rds) return refused('HttpConnectionManager: rds is required (the HTTP path uses the outbound route table)');
  const filtersOk = checkHttpFilters(hcm);
  if (filtersOk) return refused(`HttpConnectionManager: ${filtersOk}`);
  const unknownInside = findUnknownTypedExtension(hcm);
  if (unknownInside) return refused(`HttpConnectionManager: ${unknownInside}`);
  const telemetry = decodeHcmTelemetry(hcm);
  if (!telemetry.ok) return refused(`HttpConnectionManager: ${telemetry.error}`);
  const routes = decodeHcmRoutes(hcm);
  return routes.ok ? decoded(routes.value.routeConfigName) : refused(`HttpConnectionManager: ${routes.error}`);
}

function decodeHcmRoutes(hcm: ProtoObject): DecodeResult<Pick<ListenerConfig, 'routeConfigName' | 'inlineRoutes'>> {
  if (hcm.rds) {
    const routeConfigName = hcm.rds.route_config_name;
    if (typeof routeConfigName !== 'string' || routeConfigName === '') return refused('rds.route_config_name is required');
    const source = hcm.rds.config_source as ProtoObject | undefined;
    if (source && !source.ads) return refused('rds.config_source must be ads');
    return decoded({ routeConfigName });
  }
  if (hcm.route_config) {
    const table = decodeRouteConfiguration(hcm.route_config);
    if (!table.ok) return refused(`route_config: ${table.error}`);
    return decoded({ routeConfigName: table.value.name, inlineRoutes: table.value });
  }
  if (hcm.scoped_routes) return refused('scoped_routes is not supported');
  return refused('rds or route_config is required');
}

function checkHttpFilters(hcm: ProtoObject): string | undefined {
  const filters = (hcm.http_filters ?? []) as ProtoObject[];
  if (filters.length === 0) return 'http_filters must end with the router, got none';
  for (const [i, f] of filters.entries()) {
    if (f.config_discovery) return `http_filters[${i}] ("${f.name ?? ''}"): config_discovery is not supported`;
    const url = f.typed_config?.type_url ?? '';
    if (url !== typeUrls.router) return `unknown typed extension ${url || '(no typed_config)'} in http_filters[${i}] ("${f.name ?? ''}")`;
  }
  if (filters.length > 1) return 'http_filters must hold only the router';
  return undefined;
}
