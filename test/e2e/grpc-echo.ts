// A gRPC test service served and called with @grpc/grpc-js (a real peer no one here wrote).
// Messages are raw bytes: a request is a JSON control object padded to the size the test wants,
// a response is `respSize` bytes (or a JSON reply), so no .proto is needed.
import * as grpc from '@grpc/grpc-js';

export interface EchoRequest {
  /** Bytes the response must have (the interop "large unary" asks 314159). */
  respSize?: number;
  /** Answer with this gRPC status instead of OK (with trailer metadata x-echo-trailer). */
  status?: number;
  message?: string;
  /** Hold the call this long before answering (cancellation and deadline tests). */
  delayMs?: number;
  /** Stream: how many messages. */
  count?: number;
  /** Fail with UNAVAILABLE while the pod's counter of this key is below this. */
  failFirst?: number;
  key?: string;
  /** Padding that makes the request as large as the test wants. */
  pad?: string;
}

const passthrough = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

/** Services of the gRPC e2e meshes: `echo` (a grpc port 8000, the echo server's) and `client`. */
export const echoMeshServices = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: echo }
spec:
  ports: [{ name: grpc, port: 8000, protocol: grpc }]
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: client }
`;

export const echoService = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, ...passthrough },
  serverStream: { path: '/test.Echo/ServerStream', requestStream: false, responseStream: true, ...passthrough },
  clientStream: { path: '/test.Echo/ClientStream', requestStream: true, responseStream: false, ...passthrough },
  bidi: { path: '/test.Echo/Bidi', requestStream: true, responseStream: true, ...passthrough },
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo') as unknown as new (target: string, creds: grpc.ChannelCredentials, opts?: grpc.ChannelOptions) => grpc.Client & Record<keyof typeof echoService, any>;

export function encode(req: EchoRequest, totalSize = 0): Buffer {
  const base = Buffer.from(JSON.stringify(req));
  if (base.length >= totalSize) return base;
  return Buffer.from(JSON.stringify({ ...req, pad: 'x'.repeat(totalSize - base.length - 9) }));
}

/** What the server saw, for the test to check. */
export interface EchoServerLog {
  cancelled: string[];
  calls: Map<string, number>;
  lastMetadata: grpc.Metadata | null;
  lastRequestBytes: number;
  /** Time left of the deadline (grpc-timeout) the server received on its last call; null without one. */
  lastTimeoutMs: number | null;
}

/** `failAllWith`: a broken instance that answers every unary call with this status (e.g. 14, UNAVAILABLE). */
export async function startEchoServer(address: string, port: number, pod: string, opts: { failAllWith?: number } = {}): Promise<{ stop: () => Promise<void>; log: EchoServerLog }> {
  const log: EchoServerLog = { cancelled: [], calls: new Map(), lastMetadata: null, lastRequestBytes: 0, lastTimeoutMs: null };
  const server = new grpc.Server();
  const seen = (call: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>, req: EchoRequest, bytes: number) => {
    log.lastMetadata = call.metadata;
    log.lastRequestBytes = bytes;
    // grpc-js keeps grpc-timeout out of the metadata: it becomes the call's deadline
    const d = call.getDeadline();
    log.lastTimeoutMs = d === Infinity ? null : Number(d) - Date.now();
    const key = req.key ?? '';
    const n = (log.calls.get(key) ?? 0) + 1;
    log.calls.set(key, n);
    return n;
  };
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const req = JSON.parse(call.request.toString()) as EchoRequest;
      const n = seen(call, req, call.request.length);
      call.on('cancelled', () => log.cancelled.push(req.key ?? ''));
      const answer = () => {
        if (call.cancelled) return;
        if (opts.failAllWith !== undefined) {
          cb({ code: opts.failAllWith, details: `${pod} is broken` });
          return;
        }
        if (req.failFirst !== undefined && n <= req.failFirst) {
          cb({ code: grpc.status.UNAVAILABLE, details: `try ${n} fails` });
          return;
        }
        if (req.status !== undefined && req.status !== 0) {
          const trailer = new grpc.Metadata();
          trailer.set('x-echo-trailer', 'sad');
          cb({ code: req.status, details: req.message ?? 'failed', metadata: trailer });
          return;
        }
        const header = new grpc.Metadata();
        header.set('x-echo-pod', pod);
        call.sendMetadata(header);
        const trailer = new grpc.Metadata();
        trailer.set('x-echo-trailer', 'happy');
        const body = req.respSize !== undefined ? Buffer.alloc(req.respSize, 0x61) : Buffer.from(JSON.stringify({ pod, bytes: call.request.length, echo: call.metadata.get('x-echo-in') }));
        cb(null, body, trailer);
      };
      if (req.delayMs) setTimeout(answer, req.delayMs);
      else answer();
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const req = JSON.parse(call.request.toString()) as EchoRequest;
      seen(call, req, call.request.length);
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i >= (req.count ?? 1)) {
          call.end();
          return;
        }
        call.write(Buffer.from(JSON.stringify({ i: i++ })));
        setTimeout(next, req.delayMs ?? 0);
      };
      next();
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let count = 0;
      let bytes = 0;
      call.on('data', (b: Buffer) => {
        count++;
        bytes += b.length;
      });
      call.on('end', () => cb(null, Buffer.from(JSON.stringify({ count, bytes }))));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.concat([Buffer.from('pong:'), b])));
      call.on('end', () => call.end());
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`${address}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return {
    log,
    stop: () => new Promise<void>((resolve) => {
      server.forceShutdown();
      resolve();
    }),
  };
}

/** A client of the mesh: plaintext h2c to the caller's sidecar, with the service as :authority. */
export function meshClient(sidecarAddress: string, service: string): InstanceType<typeof EchoClient> {
  return new EchoClient(`${sidecarAddress}:15001`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': service,
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
  });
}

export function unary(client: InstanceType<typeof EchoClient>, req: Buffer, opts: { deadlineMs?: number; metadata?: grpc.Metadata } = {}): Promise<{ err: grpc.ServiceError | null; body: Buffer | null; headers: grpc.Metadata | null; status: grpc.StatusObject | null }> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let status: grpc.StatusObject | null = null;
    let result: { err: grpc.ServiceError | null; body: Buffer | null } | null = null;
    const done = () => {
      if (result !== null && status !== null) resolve({ ...result, headers, status });
    };
    const call = client.unary(req, opts.metadata ?? new grpc.Metadata(), { deadline: opts.deadlineMs ? Date.now() + opts.deadlineMs : undefined }, (err: grpc.ServiceError | null, body: Buffer) => {
      result = { err, body: body ?? null };
      done();
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      done();
    });
  });
}
