import type { ServiceDefinition } from '@grpc/grpc-js';
import type { AnyMessage } from '../../xds/any.js';
import { messageType } from '../../xds/descriptor.js';

/** envoy.service.discovery.v3.DiscoveryRequest, decoded (snake_case, enums by name). */
export interface DiscoveryRequest {
  version_info?: string;
  node?: Record<string, unknown>;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

export const ADS_METHOD_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

function codec<T>(name: string, onBytes?: (n: number) => void): { serialize: (value: T) => Buffer; deserialize: (bytes: Buffer) => T } {
  const type = messageType(name);
  return {
    serialize: (value) => {
      const bytes = Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
      onBytes?.(bytes.length);
      return bytes;
    },
    deserialize: (bytes) => type.toObject(type.decode(bytes), { enums: String, longs: Number, defaults: false, arrays: true }) as T,
  };
}

/**
 * The ADS service for @grpc/grpc-js, with messages coded by the build-time descriptor rather
 * than .proto files loaded at run time. Usable for a server and, in tests, for a client.
 * `onResponseBytes` counts the bytes of every response encoded (the server's push statistics).
 */
export function adsServiceDefinition(opts: { onResponseBytes?: (n: number) => void } = {}): ServiceDefinition {
  const req = codec<DiscoveryRequest>('envoy.service.discovery.v3.DiscoveryRequest');
  const res = codec<DiscoveryResponse>('envoy.service.discovery.v3.DiscoveryResponse', opts.onResponseBytes);
  return {
    StreamAggregatedResources: {
      path: ADS_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: req.serialize,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize,
      responseDeserialize: res.deserialize,
    },
  };
}
