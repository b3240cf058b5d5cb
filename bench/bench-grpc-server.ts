import * as grpc from '@grpc/grpc-js';
import { benchGrpcRequest, benchGrpcResponse, benchGrpcService } from './bench-grpc-message.js';

/**
 * The gRPC upstream: `node bench-grpc-server.js HOST PORT RESPONSE_BYTES`, @grpc/grpc-js over h2c.
 * A request that is not the bench's message gets INVALID_ARGUMENT and no answer, which the bench
 * counts as an error (a short body), so a path that mangles requests cannot pass for a fast one.
 */
const [host, portText, bytesText] = process.argv.slice(2);
const response = benchGrpcResponse(Number(bytesText));
const server = new grpc.Server();
server.addService(benchGrpcService, {
  unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    if (call.request.equals(benchGrpcRequest)) cb(null, response);
    else cb({ code: grpc.status.INVALID_ARGUMENT, details: `unexpected request of ${call.request.length} bytes` });
  },
});
server.bindAsync(`${host}:${portText}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err !== null) {
    process.stderr.write(`bench-grpc-server: cannot listen on ${host}:${portText}: ${err.message}\n`);
    process.exit(1);
  }
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
