// The bench's gRPC method: unary, raw protobuf bytes (no .proto needed), served by the real
// @grpc/grpc-js. h2load cannot speak gRPC, so it POSTs one pre-framed request message from a file;
// the server checks every request is exactly that message, and answers a fixed message.
import * as grpc from '@grpc/grpc-js';

const passthrough = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

export const benchGrpcService = {
  unary: { path: '/trellis.bench.Bench/Unary', requestStream: false, responseStream: false, ...passthrough },
} satisfies grpc.ServiceDefinition;

/** Headers of a gRPC call that h2load sends beside `:method POST` and the body. */
export const grpcCallHeaders = ['content-type: application/grpc', 'te: trailers'] as const;

/** A protobuf message whose field 1 (bytes) holds `payload` bytes; one length byte, so at most 127. */
function bytesMessage(payload: number, fill: string): Buffer {
  if (payload > 127) throw new Error(`bytesMessage: payload of ${payload} bytes needs a longer varint`);
  return Buffer.concat([Buffer.from([0x0a, payload]), Buffer.alloc(payload, fill)]);
}

/** The request every call sends (34 bytes, a small RPC's). */
export const benchGrpcRequest = bytesMessage(32, 'q');

/** The answer: a message of `totalBytes` (the HTTP/1 upstream's body size, 100 in the bench). */
export function benchGrpcResponse(totalBytes: number): Buffer {
  return bytesMessage(totalBytes - 2, 'r');
}

/** gRPC's length-prefixed framing of one uncompressed message: flag 0, 4-byte big-endian length. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

const BenchClient = grpc.makeGenericClientConstructor(benchGrpcService, 'Bench') as unknown as
  new (target: string, creds: grpc.ChannelCredentials, opts?: grpc.ChannelOptions) => grpc.Client & {
    unary(req: Buffer, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  };

/**
 * One unary call with a real grpc-js client (h2c to `target`, `:authority` the Service through
 * the mesh): null when it returned status 0 with the expected answer, else what went wrong.
 */
export async function checkGrpcCall(target: string, authority: string | null, responseBytes: number, timeoutMs: number): Promise<string | null> {
  const client = new BenchClient(target, grpc.credentials.createInsecure(), authority === null ? {} : { 'grpc.default_authority': authority });
  try {
    return await new Promise<string | null>((resolve) => {
      client.unary(benchGrpcRequest, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) resolve(`grpc-status ${err.code} (${grpc.status[err.code] ?? '?'}): ${err.details}`);
        else if (res === undefined || !res.equals(benchGrpcResponse(responseBytes))) resolve(`grpc-status 0 but an answer of ${res?.length ?? 0} bytes, expected ${responseBytes}`);
        else resolve(null);
      });
    });
  } finally {
    client.close();
  }
}
