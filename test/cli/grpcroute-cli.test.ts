// GRPCRoute through the real CLI against a real control plane (127.0.78.0/24): apply (YAML, JSON on
// stdin, refusals naming file, document, line and field), get (table and -o json), describe,
// delete; and real sidecars that ACK the compiled routes and send gRPC-typed requests by them
// while other requests of the same Service follow its HTTPRoute. (gRPC itself through the mesh,
// with grpc-js over HTTP/2, is the HTTP/2 data path's e2e.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Mesh, type Pod } from '../e2e/mesh-harness.js';

// The apps here are the harness's HTTP/1.1 servers, so the ports say http: a grpc port makes the
// sidecar speak h2c to its app. Routing by GRPCRoute does not depend on the port's protocol.
const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec: { ports: [{ port: 8000, protocol: http }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v1 }
spec: { ports: [{ port: 8000, protocol: http }], selector: { app: greeter, version: v1 } }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v2 }
spec: { ports: [{ port: 8000, protocol: http }], selector: { app: greeter, version: v2 } }
`;

const routes = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter, method: SayHello } }]
      backendRefs: [{ name: greeter-v2 }]
    - matches: [{ method: { type: RegularExpression, service: "helloworld\\\\..*" }, headers: [{ name: x-pin, value: v1 }] }]
      backendRefs: [{ name: greeter-v1 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules: [{ backendRefs: [{ name: greeter-v1 }] }]
`;

describe('trellis apply / get / describe / delete grpcroutes', () => {
  const mesh = new Mesh('127.0.78');
  let client: Pod;
  const agent = new http.Agent({ keepAlive: true });

  before(async () => {
    await mesh.startControl();
  });
  after(async () => {
    agent.destroy();
    await mesh.close();
  });

  /** A request shaped like a gRPC call on the wire (POST, content type) from the client's app through its sidecar. */
  function call(path: string, headers: Record<string, string>): Promise<{ status: number; pod?: string; path?: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: client.address, port: 15001, path, method: 'POST', agent, timeout: 10_000, headers: { host: 'greeter', ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          // the app answers JSON; the mesh answers a gRPC request's errors as gRPC statuses (empty body)
          const parsed = res.statusCode === 200 && body !== '' ? (JSON.parse(body) as { pod: string; path: string }) : undefined;
          resolve({ status: res.statusCode ?? 0, pod: parsed?.pod, path: parsed?.path, headers: res.headers });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`request ${path} timed out`)));
      req.on('error', reject);
      req.end('\0\0\0\0\0');
    });
  }

  it('applies a GRPCRoute and lists it with its methods, backends and status', async () => {
    const applied = await mesh.apply(services + '---' + routes);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /grpcroute\/greeter (created|configured)/);
    const table = await mesh.cli(['get', 'grpcroutes']);
    assert.equal(table.code, 0, table.stderr);
    const [header, row] = table.stdout.trim().split('\n');
    assert.match(header, /^NAMESPACE\s+NAME\s+PARENTS\s+METHODS\s+BACKENDS\s+ACCEPTED$/);
    assert.match(row, /^default\s+greeter\s+greeter\s+helloworld\.Greeter\/SayHello,~helloworld\\\.\.\*\/\*\[x-pin=v1\]\s+greeter-v2:1,greeter-v1:1\s+True$/);
    const rows = await mesh.getJson('grpcroutes');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].kind, 'GRPCRoute');
    assert.deepEqual(rows[0].status, { accepted: true });
    assert.equal(rows[0].spec.rules[1].matches[0].method.type, 'RegularExpression');
    // HTTPRoutes keep their own listing
    assert.deepEqual((await mesh.getJson('routes')).map((r) => r.kind), ['HTTPRoute']);
  });

  it('refuses a bad GRPCRoute naming the file, document, line and field, and stores nothing', async () => {
    const bad = `${services}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: bad }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { type: Exact } }]
      backendRefs: [{ name: greeter }]
    - matches: [{ method: { service: "hello world" } }]
      backendRefs: [{ name: greeter }]
`;
    const r = await mesh.apply(bad, 'bad.yaml');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: .*bad\.yaml: document 4 \(line 23\) GRPCRoute\/bad: spec\.rules\[0\]\.matches\[0\]\.method: one or both of 'service' or 'method' must be specified/);
    assert.match(r.stderr, /error: .*bad\.yaml: document 4 \(line 25\) GRPCRoute\/bad: spec\.rules\[1\]\.matches\[0\]\.method\.service: must be a gRPC service name/);
    assert.match(r.stderr, /nothing applied/);
    assert.deepEqual((await mesh.getJson('grpcroutes')).map((x) => x.metadata.name), ['greeter']);
  });

  it('takes JSON on stdin, shows a status that is not accepted, describes and deletes', async () => {
    const json = JSON.stringify([{
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'orphan' },
      spec: { parentRefs: [{ name: 'greeter' }], rules: [{ matches: [{ method: { service: 'x.Y' } }], backendRefs: [{ name: 'nowhere' }] }] },
    }]);
    const applied = await mesh.cli(['apply', '-f', '-'], json);
    assert.equal(applied.code, 0, applied.stderr);
    const table = await mesh.cli(['get', 'grpcroutes', 'orphan']);
    assert.match(table.stdout, /orphan\s+greeter\s+x\.Y\/\*\s+nowhere:1\s+False \(BackendServiceUnknown\)/);
    const described = await mesh.cli(['describe', 'grpcroute', 'orphan']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /kind: GRPCRoute/);
    assert.match(described.stdout, /reason: BackendServiceUnknown/);
    assert.match(described.stdout, /message: ['"]?spec\.rules\[0\]\.backendRefs\[0\]: backend Service nowhere\.default/);
    const asJson = await mesh.cli(['describe', 'grpcroute', 'orphan', '-o', 'json']);
    assert.equal(JSON.parse(asJson.stdout).status.reason, 'BackendServiceUnknown');
    const deleted = await mesh.cli(['delete', 'grpcroute', 'orphan']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /grpcroute\/orphan deleted/);
    const missing = await mesh.cli(['get', 'grpcroutes', 'orphan']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /grpcroutes "orphan" not found/);
  });

  it('sidecars ACK the compiled routes and send gRPC calls by the GRPCRoute, other requests by the HTTPRoute', async () => {
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('greeter-v1-1', 'greeter', { version: 'v1' });
    await mesh.addPod('greeter-v2-1', 'greeter', { version: 'v2' });
    const proxies = await mesh.waitInSync(20_000, 3);
    assert.ok(proxies.every((p) => p.lastNack === null), JSON.stringify(proxies.map((p) => p.lastNack)));
    const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
    for (let i = 0; i < 5; i++) {
      const r = await call('/helloworld.Greeter/SayHello', grpc);
      assert.deepEqual([r.status, r.pod, r.path], [200, 'greeter-v2-1', '/helloworld.Greeter/SayHello']);
    }
    assert.equal((await call('/helloworld.Greeter/SayHello', { 'content-type': 'application/grpc+proto' })).pod, 'greeter-v2-1');
    assert.equal((await call('/helloworld.Other/Get', { ...grpc, 'x-pin': 'v1' })).pod, 'greeter-v1-1');
    // a gRPC call no GRPCRoute rule takes falls through to the HTTPRoute; so does plain HTTP on the same path
    assert.equal((await call('/helloworld.Other/Get', grpc)).pod, 'greeter-v1-1');
    assert.equal((await call('/helloworld.Greeter/SayHello', { 'content-type': 'application/json' })).pod, 'greeter-v1-1');
    // without the HTTPRoute such a gRPC call has no route: gRPC's UNIMPLEMENTED (12), no-route
    assert.equal((await mesh.cli(['delete', 'httproute', 'greeter'])).code, 0);
    await mesh.waitInSync(20_000, 3);
    const unrouted = await call('/helloworld.Other/Get', grpc);
    assert.deepEqual([unrouted.headers['grpc-status'], unrouted.headers['x-trellis-error']], ['12', 'no-route']);
    assert.equal((await call('/helloworld.Greeter/SayHello', grpc)).pod, 'greeter-v2-1');
  });
});
