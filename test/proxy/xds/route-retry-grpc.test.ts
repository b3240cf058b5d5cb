// gRPC retry conditions over xDS: a ResiliencePolicy's `retryOn` names Envoy's gRPC conditions,
// the compiler carries them in retry_policy.retry_on, and the sidecar's decoder turns them into
// RetryPolicy.retryOnGrpcStatus (the gRPC status codes) beside the HTTP conditions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { routeResilience } from '../../../src/control/compiler/resilience-merge.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { grpcRetryOnStatus, grpcStatusesOf } from '../../../src/proxy/config/grpc-retry-on.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ResiliencePolicy } from '../../../src/resources/resilience-policy.js';
import type { RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { decodeResourceBytes, routeKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { encodeResource, outboundRoutes } from './xds-fixtures.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.78.2', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.78.2', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

function decodeRoutes(retryOn: string): ReturnType<typeof decodeResourceBytes<RouteTable>> {
  const rc = outboundRoutes(['api'], { api: [{ name: 'x', match: { prefix: '/' }, route: { cluster: 'api.default', retry_policy: { retry_on: retryOn, num_retries: { value: 2 } } } }] });
  return decodeResourceBytes(routeKind, encodeResource(routeKind.typeUrl, rc));
}

test('Envoy\'s gRPC conditions map to the gRPC status codes they name', () => {
  assert.deepEqual(grpcRetryOnStatus, { cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14 });
  assert.deepEqual(grpcStatusesOf(['unavailable', 'connect-failure', 'cancelled', 'unavailable']), [1, 14]);
  assert.deepEqual(grpcStatusesOf(['5xx']), []);
});

test('decoder: each gRPC condition is accepted and gives its status; HTTP conditions stay as they were', () => {
  for (const [cond, code] of Object.entries(grpcRetryOnStatus)) {
    const r = decodeRoutes(`connect-failure,${cond}`);
    assert.ok(r.ok, !r.ok ? r.error : '');
    const retry = r.value.virtualHosts[0].routes[0].retry!;
    assert.deepEqual(retry.retryOn, ['connect-failure', cond]);
    assert.deepEqual(retry.retryOnGrpcStatus, [code]);
    assert.equal(retry.maxRetries, 2);
  }
  const all = decodeRoutes('unavailable, deadline-exceeded,reset,internal,resource-exhausted,cancelled');
  assert.ok(all.ok, !all.ok ? all.error : '');
  assert.deepEqual(all.value.virtualHosts[0].routes[0].retry!.retryOnGrpcStatus, [1, 4, 8, 13, 14]);
  // without a gRPC condition the field is absent, so HTTP-only policies decode as before
  const http = decodeRoutes('5xx');
  assert.ok(http.ok);
  assert.equal(http.value.virtualHosts[0].routes[0].retry!.retryOnGrpcStatus, undefined);
});

test('decoder: a condition Envoy spells otherwise, or one the sidecar does not know, is still refused', () => {
  for (const bad of ['UNAVAILABLE', 'deadline_exceeded', 'refused-stream', 'retriable-4xx']) {
    const r = decodeRoutes(`reset,${bad}`);
    assert.equal(r.ok, false, bad);
    if (!r.ok) {
      assert.ok(r.error.includes(`retry_on "${bad}" is not supported`), r.error);
      assert.ok(r.error.includes('unavailable'), 'the message lists the gRPC conditions');
    }
  }
});

test('round trip: a policy\'s gRPC conditions compile into retry_on and decode into exactly the typed policy', () => {
  const mesh = parse(`apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api }
spec:
  targetRef: { kind: Service, name: api }
  retries: { attempts: 3, retryOn: [connect-failure, unavailable, resource-exhausted, unavailable], nonIdempotent: true }
`);
  const snapshot = compileSnapshot({ resources: mesh, instances: [] }, node);
  const rc = snapshot.get(typeUrls.routeConfiguration)!.get('outbound')! as unknown as { virtual_hosts: { name: string; routes: { route: { retry_policy: { retry_on: string } } }[] }[] };
  assert.equal(rc.virtual_hosts.find((v) => v.name === 'api.default')!.routes[0].route.retry_policy.retry_on, 'connect-failure,unavailable,resource-exhausted');
  const bytes = encodeSnapshot(snapshot).resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value;
  const table = decodeResourceBytes(routeKind, bytes);
  assert.ok(table.ok, !table.ok ? table.error : '');
  const route = table.value.virtualHosts.find((v) => v.name === 'api.default')!.routes[0];
  const expected = routeResilience([mesh[1] as ResiliencePolicy]);
  assert.deepEqual(route.retry, expected.retry);
  assert.deepEqual(route.retry!.retryOnGrpcStatus, [8, 14]);
  assert.equal(route.retry!.nonIdempotent, true);
});

test('schema: ResiliencePolicy retryOn takes the gRPC conditions and names a misspelt one', () => {
  const doc = (cond: string) => `apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: p }
spec:
  targetRef: { kind: Service, name: api }
  retries:
    retryOn: [reset, ${cond}]
`;
  for (const cond of Object.keys(grpcRetryOnStatus)) assert.ok(parseResources(doc(cond), 'p.yaml').ok, cond);
  const r = parseResources(doc('unavailble'), 'p.yaml');
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.errors[0].path, 'spec.retries.retryOn[1]');
    assert.equal(r.errors[0].line, 7);
    assert.match(r.errors[0].message, /must be one of .*unavailable/);
  }
});
