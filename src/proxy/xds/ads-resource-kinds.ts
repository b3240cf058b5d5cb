// The four xDS resource types the sidecar subscribes to over ADS, each with its decoder, so the
// client (and the saved-state loader) can treat them uniformly.
import { sidecarDescriptor } from '../../xds/descriptor.js';
import { messageNameOf, typeUrls } from '../../xds/type-urls.js';
import type { ClusterConfig, ClusterLoadAssignment, ListenerConfig, RouteTable } from '../config/proxy-config.js';
import { decodeCluster } from './cluster-decoder.js';
import { decodeClusterLoadAssignment } from './cluster-load-assignment-decoder.js';
import { decodeListener } from './listener-decoder.js';
import { decodeRouteConfiguration } from './route-config-decoder.js';
import { refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export interface ResourceKind<T> {
  key: 'clusters' | 'assignments' | 'listeners' | 'routes';
  typeUrl: string;
  /** LDS and CDS are wildcard subscriptions; EDS and RDS name what they need (docs/xds.md). */
  wildcard: boolean;
  decode(message: ProtoObject): DecodeResult<T>;
  nameOf(value: T): string;
}

export const clusterKind: ResourceKind<ClusterConfig> = {
  key: 'clusters', typeUrl: typeUrls.cluster, wildcard: true, decode: decodeCluster, nameOf: (c) => c.name,
};
export const assignmentKind: ResourceKind<ClusterLoadAssignment> = {
  key: 'assignments', typeUrl: typeUrls.clusterLoadAssignment, wildcard: false, decode: decodeClusterLoadAssignment, nameOf: (a) => a.clusterName,
};
export const listenerKind: ResourceKind<ListenerConfig> = {
  key: 'listeners', typeUrl: typeUrls.listener, wildcard: true, decode: decodeListener, nameOf: (l) => l.name,
};
export const routeKind: ResourceKind<RouteTable> = {
  key: 'routes', typeUrl: typeUrls.routeConfiguration, wildcard: false, decode: decodeRouteConfiguration, nameOf: (r) => r.name,
};

/** ADS order: clusters before their endpoints, listeners before their routes. */
export const resourceKinds = [clusterKind, assignmentKind, listenerKind, routeKind] as const;

const toObjectOptions = { longs: Number, enums: String, defaults: false, oneofs: true } as const;

/** Protobuf bytes of one resource → its typed shape; malformed bytes are a refusal, not an exception. */
export function decodeResourceBytes<T>(kind: ResourceKind<T>, bytes: Uint8Array): DecodeResult<T> {
  let message: ProtoObject;
  try {
    const type = sidecarDescriptor.messageType(messageNameOf(kind.typeUrl));
    message = type.toObject(type.decode(bytes), toObjectOptions);
  } catch (err) {
    return refused(`malformed ${messageNameOf(kind.typeUrl)}: ${(err as Error).message}`);
  }
  try {
    return kind.decode(message);
  } catch (err) {
    // The decoders do not throw by design; this guards the client against a decoder bug.
    return refused(`${messageNameOf(kind.typeUrl)}: decoder failed: ${(err as Error).message}`);
  }
}
