// Envoy resources as the control plane's compiler sends them (docs/xds.md), as plain protobuf
// objects (snake_case), with helpers to pack them the way they travel.
import type { AnyMessage } from '../../../src/xds/any.js';
import { messageType } from '../../../src/xds/descriptor.js';
import { toStruct } from '../../../src/xds/node.js';
import { messageNameOf, typeUrls } from '../../../src/xds/type-urls.js';

export type Obj = Record<string, any>;

export const routerFilter = { name: 'envoy.filters.http.router', typed_config: packResource(typeUrls.router, {}) };

export function hcm(routeSpec: Obj, extra: Obj = {}): AnyMessage {
  return packResource(typeUrls.httpConnectionManager, {
    stat_prefix: 'outbound',
    strip_any_host_port: true,
    http_filters: [routerFilter],
    ...routeSpec,
    ...extra,
  });
}

export function outboundListener(address = '127.0.20.9', port = 15001, hcmExtra: Obj = {}): Obj {
  return {
    name: 'outbound',
    address: { socket_address: { address, port_value: port } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: hcm({ rds: { route_config_name: 'outbound', config_source: { ads: {}, resource_api_version: 'V3' } } }, hcmExtra),
      }],
    }],
  };
}

export function inboundListener(address = '127.0.20.9', port = 15006): Obj {
  return {
    name: 'inbound',
    address: { socket_address: { address, port_value: port } },
    traffic_direction: 'INBOUND',
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: hcm({
          stat_prefix: 'inbound',
          route_config: {
            name: 'inbound',
            virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'inbound|local' } }] }],
          },
        }),
      }],
    }],
  };
}

export function outboundRoutes(services: string[], extraRoutes: Record<string, Obj[]> = {}): Obj {
  return {
    name: 'outbound',
    virtual_hosts: services.map((s) => ({
      name: `${s}.default`,
      domains: [s, `${s}.default`, `${s}.default.svc`, `${s}.default.svc.cluster.local`],
      routes: [...(extraRoutes[s] ?? []), { match: { prefix: '/' }, route: { cluster: `${s}.default` } }],
    })),
  };
}

export function edsCluster(name: string, extra: Obj = {}): Obj {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: { seconds: 1 },
    lb_policy: 'ROUND_ROBIN',
    ...extra,
  };
}

export function staticCluster(name: string, address: string, port: number): Obj {
  return {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: 1 },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }] },
  };
}

export interface Instance {
  address: string;
  port?: number;
  zone?: string;
  health?: string;
  labels?: Record<string, string>;
}

export function assignment(name: string, instances: Instance[]): Obj {
  const byZone = new Map<string, Instance[]>();
  for (const i of instances) byZone.set(i.zone ?? 'z1', [...(byZone.get(i.zone ?? 'z1') ?? []), i]);
  return {
    cluster_name: name,
    endpoints: [...byZone].map(([zone, list]) => ({
      locality: { region: 'r1', zone },
      load_balancing_weight: { value: list.length },
      lb_endpoints: list.map((i) => ({
        endpoint: { address: { socket_address: { address: i.address, port_value: i.port ?? 15006 } } },
        health_status: i.health ?? 'HEALTHY',
        load_balancing_weight: { value: 1 },
        metadata: { filter_metadata: { trellis: toStruct(i.labels ?? {}) } },
      })),
    })),
  };
}

/** A resource's protobuf bytes. */
export function encodeResource(typeUrl: string, obj: Obj): Uint8Array {
  // fromObject rather than packAny: verify() rejects enum names ("EDS"), which fromObject takes.
  const type = messageType(messageNameOf(typeUrl));
  return type.encode(type.fromObject(obj)).finish();
}

export function packResource(typeUrl: string, obj: Obj): AnyMessage {
  return { type_url: typeUrl, value: encodeResource(typeUrl, obj) };
}

export interface Snapshot {
  clusters: Obj[];
  assignments: Obj[];
  listeners: Obj[];
  routes: Obj[];
}

/** The realistic snapshot of a pod of `web` calling `api` and `inventory`: 2 listeners, 1 route config, 3 EDS clusters (+ the inbound STATIC one), 3 assignments. */
export function webSnapshot(podAddress = '127.0.20.9', apiWeights?: [number, number]): Snapshot {
  const extra: Record<string, Obj[]> = apiWeights
    ? { api: [{ name: 'api-split.0', match: { prefix: '/v' }, route: { weighted_clusters: { clusters: [{ name: 'api-v1.default', weight: { value: apiWeights[0] } }, { name: 'api-v2.default', weight: { value: apiWeights[1] } }] }, timeout: { seconds: 2, nanos: 500_000_000 } } }] }
    : {};
  return {
    clusters: [edsCluster('api.default'), edsCluster('inventory.default'), edsCluster('web.default'), staticCluster('inbound|local', '127.0.20.9', 8080)],
    assignments: [
      assignment('api.default', [{ address: '127.0.20.21', labels: { version: 'v1' } }, { address: '127.0.20.22', zone: 'z2', labels: { version: 'v2' } }]),
      assignment('inventory.default', [{ address: '127.0.20.31', health: 'DRAINING' }]),
      assignment('web.default', [{ address: podAddress }]),
    ],
    listeners: [outboundListener(podAddress), inboundListener(podAddress)],
    routes: [outboundRoutes(['api', 'inventory'], extra)],
  };
}
