import { packMessage } from './pack.js';
import type { NodeInfo } from '../../xds/node.js';
import { typeUrls } from '../../xds/type-urls.js';
import { INBOUND_LOCAL_CLUSTER } from './compile-clusters.js';
import { adsConfigSource, socketAddress, type XdsObject } from './xds-object.js';
import { inboundConnectRoute } from './compile-tcp.js';

export const OUTBOUND_ROUTE_CONFIG = 'outbound';

function routerFilter(): XdsObject {
  return { name: 'envoy.filters.http.router', typed_config: packMessage(typeUrls.router, {}) };
}

export function httpConnectionManager(statPrefix: string, routing: XdsObject, telemetry: XdsObject = {}): XdsObject {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: packMessage(typeUrls.httpConnectionManager, {
      stat_prefix: statPrefix,
      strip_any_host_port: true,
      ...routing,
      ...telemetry,
      http_filters: [routerFilter()],
    }),
  };
}

/**
 * `outbound` always; `inbound` only for a node that fronts a local app. `telemetry`: the HCM's
 * tracing and access_log fields (compile-telemetry.ts), the same on both. `inboundTcpPorts`: the
 * app's tcp ports that peers may reach through a CONNECT (compile-tcp.ts), each a route before
 * the catch-all.
 */
export function compileListeners(node: NodeInfo, telemetry: XdsObject = {}, inboundTcpPorts: readonly number[] = []): XdsObject[] {
  const listeners: XdsObject[] = [{
    name: 'outbound',
    address: socketAddress(node.address, node.outboundPort),
    traffic_direction: 'OUTBOUND',
    filter_chains: [{
      filters: [httpConnectionManager('outbound', { rds: { route_config_name: OUTBOUND_ROUTE_CONFIG, config_source: adsConfigSource } }, telemetry)],
    }],
  }];
  if (node.app) {
    listeners.push({
      name: 'inbound',
      address: socketAddress(node.address, node.inboundPort),
      traffic_direction: 'INBOUND',
      filter_chains: [{
        filters: [httpConnectionManager('inbound', {
          route_config: {
            name: 'inbound',
            virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [
              ...inboundTcpPorts.map(inboundConnectRoute),
              { match: { prefix: '/' }, route: { cluster: INBOUND_LOCAL_CLUSTER } },
            ] }],
          },
        }, telemetry)],
      }],
    });
  }
  return listeners;
}

/**
 * A listener for a proxyless gRPC client (grpc-js-xds asks for the listener named after its
 * `xds:///` target): an API listener whose inline route table holds the target service's routes.
 */
export function compileApiListener(name: string, routes: XdsObject[]): XdsObject {
  const hcm = httpConnectionManager(name, {
    route_config: { name, virtual_hosts: [{ name, domains: ['*'], routes }] },
  });
  return { name, api_listener: { api_listener: hcm.typed_config } };
}
