// What every xDS resource decoder returns: a value, or the reason for a NACK. Decoders never
// throw, because one bad resource must refuse its response, not break the client.
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function decoded<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function refused<T>(error: string): DecodeResult<T> {
  return { ok: false, error };
}

/** A decoded protobuf message as a plain object (snake_case, enums as strings, longs as numbers). */
export type ProtoObject = Record<string, any>;
