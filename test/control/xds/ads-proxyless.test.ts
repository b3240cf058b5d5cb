import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startControlPlane } from '../../../src/control/main.js';
import { encodeNode } from '../../../src/xds/node.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { AdsTestClient, loopback, nodeInfo, pollUntil, withTempDir } from '../helpers.js';

// An unmodified gRPC application using grpc-js-xds (`xds:///service`) joins the mesh without a sidecar.

const echo: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo', requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  },
};

describe('ADS server with a proxyless gRPC client', () => {
  it('resolves xds:///greeter targets through the API listener, cluster and endpoints', { timeout: 60_000 }, () => withTempDir(async (dir) => {
    const cp = await startControlPlane({ dataDir: dir, listen: loopback(4), xdsPort: 0, apiPort: 0, logLevel: 'silent' });
    const server = new grpc.Server();
    server.addService(echo, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])) });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${loopback(5)}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    // the greeter's registration, as its sidecar (or a proxyless server) would send it
    const registration = new AdsTestClient(`${loopback(4)}:${cp.xdsPort}`);
    const clients: grpc.Client[] = [];
    try {
      registration.send({ node: encodeNode(nodeInfo({ service: 'greeter', address: loopback(5), inboundPort: port, app: { address: loopback(5), port } })), type_url: typeUrls.cluster });
      await registration.next();

      process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
        xds_servers: [{ server_uri: `${loopback(4)}:${cp.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: 'client-1', cluster: 'client', locality: { zone: 'z1' }, metadata: { address: loopback(6) } },
      });
      const xds = await import('@grpc/grpc-js-xds');
      xds.register();
      const Client = grpc.makeGenericClientConstructor(echo, 'Echo');
      for (const target of ['xds:///greeter', 'xds:///greeter:50051', 'xds:///greeter.default.svc.cluster.local']) {
        const client = new Client(target, grpc.credentials.createInsecure());
        clients.push(client);
        const reply = await new Promise<Buffer>((resolve, reject) => {
          (client as any).Echo(Buffer.from(target), { deadline: Date.now() + 15_000 }, (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r)));
        });
        assert.equal(reply.toString(), `echo:${target}`);
      }
      await pollUntil(async () => {
        const proxies = await (await fetch(`http://${loopback(4)}:${cp.apiPort}/api/v1/proxies`)).json() as { id: string; ackedVersion: string | null; lastNack: unknown }[];
        const client = proxies.find((p) => p.id === 'client-1');
        return client?.ackedVersion !== null && client?.lastNack === null;
      }, 'the proxyless client to ACK without NACKs');
    } finally {
      for (const c of clients) c.close();
      registration.close();
      server.forceShutdown();
      await cp.close();
    }
  }));
});
