import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { startControlPlane } from '../../../src/control/main.js';
import { encodeNode } from '../../../src/xds/node.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { AdsTestClient, nodeInfo, pollUntil, withTempDir } from '../helpers.js';

// A GRPCRoute read by a peer no one here wrote: an unmodified grpc-js application using
// grpc-js-xds (`xds:///greeter`) gets the compiled routes (paths, the content-type gate, header
// matches) and sends each method where the route says. Addresses: 127.0.78.0/24.

const host = (n: number): string => `127.0.78.${n}`;
const methods = ['SayHello', 'SayGoodbye'] as const;

function greeterService(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const m of methods) {
    def[m] = {
      path: `/helloworld.Greeter/${m}`, requestStream: false, responseStream: false,
      requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
    };
  }
  return def;
}

const resources = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec: { ports: [{ port: 50051, protocol: grpc }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v1 }
spec: { ports: [{ port: 50051, protocol: grpc }], selector: { app: greeter, version: v1 } }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v2 }
spec: { ports: [{ port: 50051, protocol: grpc }], selector: { app: greeter, version: v2 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches:
        - method: { service: helloworld.Greeter, method: SayHello }
        - method: { service: helloworld.Greeter }
          headers: [{ name: x-canary, value: "yes" }]
      backendRefs: [{ name: greeter-v2 }]
    - matches: [{ method: { type: RegularExpression, service: "helloworld\\\\.Gr.*" } }]
      backendRefs: [{ name: greeter-v1 }]
`;

describe('GRPCRoute with a proxyless gRPC client', () => {
  it('routes each gRPC method and header match to its backend', { timeout: 90_000 }, () => withTempDir(async (dir) => {
    const cp = await startControlPlane({ dataDir: dir, listen: host(20), xdsPort: 0, apiPort: 0, logLevel: 'silent' });
    const servers: grpc.Server[] = [];
    const registrations: AdsTestClient[] = [];
    const clients: grpc.Client[] = [];
    try {
      for (const [i, version] of (['v1', 'v2'] as const).entries()) {
        const server = new grpc.Server();
        const impl: grpc.UntypedServiceImplementation = {};
        for (const m of methods) impl[m] = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${version}:${m}`));
        server.addService(greeterService(), impl);
        const address = host(21 + i);
        const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${address}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
        servers.push(server);
        // each greeter's registration, as its sidecar (or a proxyless server) would send it
        const reg = new AdsTestClient(`${host(20)}:${cp.xdsPort}`);
        registrations.push(reg);
        reg.send({ node: encodeNode(nodeInfo({ service: 'greeter', address, labels: { version }, inboundPort: port, app: { address, port } })), type_url: typeUrls.cluster });
        await reg.next();
      }
      const token = (await readFile(cp.adminTokenFile, 'utf8')).trim();
      const applied = await fetch(`http://${host(20)}:${cp.apiPort}/api/v1/resources`, { method: 'POST', body: resources, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' } });
      assert.equal(applied.status, 200, await applied.text());

      process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
        xds_servers: [{ server_uri: `${host(20)}:${cp.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: 'grpc-client-1', cluster: 'client', locality: { zone: 'z1' }, metadata: { address: host(25) } },
      });
      const xds = await import('@grpc/grpc-js-xds');
      xds.register();
      const Client = grpc.makeGenericClientConstructor(greeterService(), 'Greeter');
      const client = new Client('xds:///greeter', grpc.credentials.createInsecure());
      clients.push(client);
      const call = (method: string, canary = false) => new Promise<string>((resolve, reject) => {
        const md = new grpc.Metadata();
        if (canary) md.set('x-canary', 'yes');
        (client as any)[method](Buffer.from('hi'), md, { deadline: Date.now() + 15_000 }, (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r.toString())));
      });
      for (let i = 0; i < 4; i++) {
        assert.equal(await call('SayHello'), 'v2:SayHello', 'an exact service and method');
        assert.equal(await call('SayGoodbye'), 'v1:SayGoodbye', 'the regular expression rule');
        assert.equal(await call('SayGoodbye', true), 'v2:SayGoodbye', 'a service with a header match');
      }
      await pollUntil(async () => {
        const proxies = await (await fetch(`http://${host(20)}:${cp.apiPort}/api/v1/proxies`)).json() as { id: string; ackedVersion: string | null; lastNack: unknown }[];
        const c = proxies.find((p) => p.id === 'grpc-client-1');
        return c?.ackedVersion !== null && c?.lastNack === null;
      }, 'the proxyless client to ACK the GRPCRoute config without NACKs');
    } finally {
      for (const c of clients) c.close();
      for (const r of registrations) r.close();
      for (const s of servers) s.forceShutdown();
      await cp.close();
    }
  }));
});
