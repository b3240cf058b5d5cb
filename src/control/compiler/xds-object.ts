/** An xDS message as a plain object with protobuf (snake_case) field names, ready for protobufjs fromObject. */
export type XdsObject = Record<string, unknown>;

export const adsConfigSource: XdsObject = { ads: {}, resource_api_version: 'V3' };

export function socketAddress(address: string, port: number): XdsObject {
  return { socket_address: { address, port_value: port } };
}

/** google.protobuf.Duration from milliseconds. */
export function durationFromMs(ms: number): XdsObject {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return nanos ? { seconds, nanos } : { seconds };
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
