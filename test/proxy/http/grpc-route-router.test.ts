// GRPCRoute end to end inside one process: the control plane compiles it, the snapshot travels
// as real protobuf bytes, the sidecar's RouteConfiguration decoder reads it and its router picks
// routes for gRPC calls. Nothing gRPC-specific is needed in the sidecar to match: path and headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { decodeResourceBytes, routeKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { Router } from '../../../src/proxy/http/router.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.78.3', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.78.3', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

const yaml = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v1 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter-v2 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: rest }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter, method: SayHello }, headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: greeter-v2 }]
      retry: { codes: [UNAVAILABLE, DEADLINE_EXCEEDED], attempts: 3 }
    - matches: [{ method: { service: helloworld.Greeter } }]
      backendRefs: [{ name: greeter-v1, weight: 3 }, { name: greeter-v2, weight: 1 }]
    - matches: [{ method: { type: RegularExpression, method: "Stream.*" } }]
      backendRefs: [{ name: greeter-v2 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /helloworld.Greeter } }]
      backendRefs: [{ name: rest }]
`;

function routeTable(): RouteTable {
  const parsed = parseResources(yaml, 'g.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const encoded = encodeSnapshot(compileSnapshot({ resources: parsed.resources, instances: [] }, node));
  const r = decodeResourceBytes(routeKind, encoded.resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value);
  if (!r.ok) assert.fail(`the sidecar refused the compiled config: ${r.error}`);
  return r.value;
}

const table = routeTable();
let next = 0;
const router = new Router(table, () => next);

function call(path: string, headers: Record<string, string> = { 'content-type': 'application/grpc' }, method = 'POST') {
  return router.route('greeter', path, { method, headers: { te: 'trailers', ...headers } });
}

test('the sidecar decodes the compiled GRPCRoute (no NACK) with its matches as path and header conditions', () => {
  const routes = table.virtualHosts.find((v) => v.name === 'greeter.default')!.routes;
  assert.deepEqual(routes.map((r) => r.name), ['grpc:greeter.0', 'grpc:greeter.1', 'grpc:greeter.2', 'greeter.0']);
  assert.deepEqual(routes[0].match, { kind: 'exact', value: '/helloworld.Greeter/SayHello' });
  assert.deepEqual(routes[0].headers, [{ name: 'content-type', kind: 'regex', value: 'application/grpc(?:|[+;].*)' }, { name: 'x-canary', kind: 'exact', value: 'yes' }]);
  assert.deepEqual(routes[1].match, { kind: 'prefix', value: '/helloworld.Greeter/' });
  assert.deepEqual(routes[2].match, { kind: 'regex', value: '/[^/]+/(?:Stream.*)' });
});

test('a gRPC call goes to the most specific rule: method and header, then service, then regex', () => {
  assert.equal(call('/helloworld.Greeter/SayHello', { 'content-type': 'application/grpc', 'x-canary': 'yes' })?.name, 'grpc:greeter.0');
  assert.equal(call('/helloworld.Greeter/SayHello')?.name, 'grpc:greeter.1');
  assert.equal(call('/helloworld.Greeter/Other', { 'content-type': 'application/grpc+proto' })?.name, 'grpc:greeter.1');
  assert.equal(call('/helloworld.Greeter/Other', { 'content-type': 'application/grpc;charset=utf-8' })?.name, 'grpc:greeter.1');
  assert.equal(call('/other.Svc/StreamThings')?.name, 'grpc:greeter.2');
  // the service is a whole path segment: a longer service name is not it
  assert.equal(call('/helloworld.GreeterV2/Get'), null, 'a gRPC call no rule takes gets no route (404, UNIMPLEMENTED to the client)');
  assert.equal(call('/other.Svc/Get'), null);
});

test('requests that are not gRPC skip the GRPCRoute and meet the HTTPRoute of the same Service', () => {
  assert.equal(call('/helloworld.Greeter/SayHello', {}, 'POST')?.name, 'greeter.0');
  assert.equal(call('/helloworld.Greeter/SayHello', { 'content-type': 'application/json' })?.name, 'greeter.0');
  // grpc-web is another protocol on the wire: not matched as gRPC
  assert.equal(call('/helloworld.Greeter/SayHello', { 'content-type': 'application/grpc-web' })?.name, 'greeter.0');
  assert.equal(call('/helloworld.GreeterV2/Get', {}, 'GET'), null);
});

test('weights split calls of one rule; its retry policy carries the gRPC statuses and allows the POSTs', () => {
  const route = call('/helloworld.Greeter/Get')!;
  const picks = [0, 0.25, 0.5, 0.74, 0.75, 0.99].map((r) => {
    next = r;
    return route.pickCluster();
  });
  assert.deepEqual(picks, ['greeter-v1.default', 'greeter-v1.default', 'greeter-v1.default', 'greeter-v1.default', 'greeter-v2.default', 'greeter-v2.default']);
  const retry = call('/helloworld.Greeter/SayHello', { 'content-type': 'application/grpc', 'x-canary': 'yes' })!.config.retry!;
  assert.deepEqual(retry.retryOn, ['connect-failure', 'reset', 'unavailable', 'deadline-exceeded']);
  assert.deepEqual(retry.retryOnGrpcStatus, [4, 14]);
  assert.equal(retry.maxRetries, 3);
  assert.equal(retry.nonIdempotent, true);
  // a rule without retry keeps the mesh default: idempotent methods only, so gRPC POSTs are not retried
  const plain = call('/helloworld.Greeter/Get')!.config.retry!;
  assert.equal(plain.nonIdempotent, false);
  assert.equal(plain.retryOnGrpcStatus, undefined);
});
