// Resilience over xDS: what the compiler sends (ResiliencePolicy → Envoy fields and Trellis typed
// extensions) decodes through real protobuf bytes into exactly the typed config; malformed or
// unknown extensions are refused with a message that names them.
import { defaultHttp2Options } from '../../../src/proxy/cluster/pool/h2-session-pool.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { clusterResilience, routeResilience } from '../../../src/control/compiler/resilience-merge.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ResiliencePolicy } from '../../../src/resources/resilience-policy.js';
import type { ClusterConfig, Route, RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { clusterKind, decodeResourceBytes, routeKind, type ResourceKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import type { DecodeResult } from '../../../src/proxy/xds/xds-decode-result.js';
import { packResource, edsCluster, encodeResource, outboundRoutes, type Obj } from './xds-fixtures.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { toStruct, type NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.11.2', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.11.2', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

const mesh = parse(`apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules:
    - name: pay
      matches: [{ path: { type: PathPrefix, value: /pay } }]
      backendRefs: [{ name: api }]
      timeouts: { request: 4s, backendRequest: 1s }
      retry: { codes: [503], attempts: 1, backoff: 50ms }
    - backendRefs: [{ name: api }]
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api }
spec:
  targetRef: { kind: Service, name: api }
  loadBalancer: { type: LeastRequest, choiceCount: 3 }
  timeouts: { connect: 300ms, idle: 2m, request: 9s }
  retries: { attempts: 3, retryOn: [gateway-error, reset], nonIdempotent: true, maxBufferBytes: 1024, backoff: { baseInterval: 10ms, maxInterval: 80ms } }
  retryBudget: { ratio: 0.3, minRetriesPerSecond: 2, window: 5s }
  circuitBreaker: { maxConnections: 7, maxPendingRequests: 8, maxRequests: 9, maxRetries: 1 }
  connectionPool: { maxRequestsPerConnection: 1 }
  outlierDetection: { consecutiveFailures: 3, interval: 2s, baseEjectionTime: 5s, maxEjectionTime: 1m, maxEjectionPercent: 34, successRate: { stdevFactor: 2.5 } }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: db }
spec:
  targetRef: { kind: Service, name: db }
  outlierDetection: { enabled: false }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: pay }
spec:
  targetRef: { kind: HTTPRoute, name: r, sectionName: pay }
  faults: { delay: { percent: 0.1, duration: 150ms }, abort: { percent: 33.3333, httpStatus: 503 } }
`);

function decodeBytes<T>(kind: ResourceKind<T>, bytes: Uint8Array): T {
  const r = decodeResourceBytes(kind, bytes);
  if (!r.ok) assert.fail(`expected ok, got: ${r.error}`);
  return r.value;
}

const encoded = encodeSnapshot(compileSnapshot({ resources: mesh, instances: [] }, node));
const policyNamed = (n: string): ResiliencePolicy => mesh.find((r) => r.kind === 'ResiliencePolicy' && r.metadata.name === n) as ResiliencePolicy;

test('round trip: each cluster decodes to exactly the typed settings the policy resolves to', () => {
  for (const [name, policy] of [['api.default', policyNamed('api')], ['db.default', policyNamed('db')]] as const) {
    const got = decodeBytes(clusterKind, encoded.resources.get(typeUrls.cluster)!.get(name)!.value);
    const expected: ClusterConfig = { name, edsServiceName: name, ...clusterResilience(policy), upstreamProtocol: 'downstream', http2: defaultHttp2Options };
    assert.deepEqual(got, expected);
  }
  const api = decodeBytes(clusterKind, encoded.resources.get(typeUrls.cluster)!.get('api.default')!.value);
  assert.deepEqual(api.lbPolicy, { kind: 'least-request', choiceCount: 3 });
  assert.equal(api.maxRequestsPerConnection, 1, 'keep-alive off: a new connection per request');
  assert.deepEqual(api.outlierDetection?.successRate, { minimumHosts: 5, requestVolume: 100, stdevFactor: 2.5 });
  assert.equal(decodeBytes(clusterKind, encoded.resources.get(typeUrls.cluster)!.get('db.default')!.value).outlierDetection, undefined);
});

test('round trip: a cluster without a policy gets the defaults, peak-EWMA included', () => {
  const plain = encodeSnapshot(compileSnapshot({ resources: parse('apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: api }\n'), instances: [] }, node));
  const got = decodeBytes(clusterKind, plain.resources.get(typeUrls.cluster)!.get('api.default')!.value);
  assert.deepEqual(got, { name: 'api.default', edsServiceName: 'api.default', ...clusterResilience(undefined), upstreamProtocol: 'downstream', http2: defaultHttp2Options });
  assert.deepEqual(got.lbPolicy, { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 });
  const table = decodeBytes(routeKind, plain.resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value);
  const route = table.virtualHosts.find((v) => v.name === 'api.default')!.routes[0];
  assert.deepEqual(route, { name: 'api.default', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: 'api.default', weight: 1 }], ...routeResilience([]) });
});

test('round trip: routes carry timeouts, retries, retry options and faults exactly', () => {
  const table: RouteTable = decodeBytes(routeKind, encoded.resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value);
  const routes = table.virtualHosts.find((v) => v.name === 'api.default')!.routes;
  const rule = (mesh.find((r) => r.kind === 'HTTPRoute') as Extract<Resource, { kind: 'HTTPRoute' }>).spec.rules;
  const pay = routes.find((r) => r.name === 'r.0')!;
  const expectedPay: Route = {
    name: 'r.0', match: { kind: 'segment-prefix', value: '/pay' }, clusters: [{ cluster: 'api.default', weight: 1 }],
    ...routeResilience([policyNamed('api'), undefined, policyNamed('pay')], rule[0]),
  };
  assert.deepEqual(pay, expectedPay);
  assert.deepEqual(pay.fault, { delay: { percent: 0.1, delayMs: 150 }, abort: { percent: 33.3333, httpStatus: 503 } });
  assert.deepEqual(pay.retry, {
    maxRetries: 1, retryOn: ['connect-failure', 'reset', 'retriable-status-codes'], retriableStatusCodes: [503], perTryTimeoutMs: 1000,
    backoffBaseMs: 50, backoffMaxMs: 500, nonIdempotent: true, maxBufferBytes: 1024,
  });
  assert.equal(pay.timeoutMs, 4000);
  const rest = routes.find((r) => r.name === 'r.1')!;
  assert.deepEqual(rest, { name: 'r.1', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: 'api.default', weight: 1 }], ...routeResilience([policyNamed('api')], rule[1]) });
  assert.equal(rest.fault, undefined);
});

// ---- refusals ----

function decode<T>(kind: ResourceKind<T>, obj: Obj): DecodeResult<T> {
  return decodeResourceBytes(kind, encodeResource(kind.typeUrl, obj));
}

function refusedWith<T>(r: DecodeResult<T>, ...parts: string[]): void {
  if (r.ok) assert.fail(`expected a refusal, got ${JSON.stringify(r.value)}`);
  for (const p of parts) assert.ok(r.error.includes(p), `"${r.error}" should mention ${p}`);
}

const typedStruct = (url: string, value: Record<string, unknown>): Obj => packResource('type.googleapis.com/xds.type.v3.TypedStruct', { type_url: url, value: toStruct(value) });
const peakEwma = (value: Record<string, unknown>, url = 'trellis.dev/trellis.lb.PeakEwma'): Obj => ({
  load_balancing_policy: { policies: [{ typed_extension_config: { name: 'trellis.peak_ewma', typed_config: typedStruct(url, value) } }] },
});

test('cluster: a peak-EWMA TypedStruct of another type, or with bad values, is refused', () => {
  refusedWith(decode(clusterKind, edsCluster('a', peakEwma({}, 'trellis.dev/trellis.lb.Other'))), 'cluster "a"', 'trellis.dev/trellis.lb.Other');
  refusedWith(decode(clusterKind, edsCluster('a', peakEwma({ decay_ms: -1 }))), 'decay_ms');
  refusedWith(decode(clusterKind, edsCluster('a', peakEwma({ default_rtt_ms: 'fast' }))), 'default_rtt_ms');
  const ok = decode(clusterKind, edsCluster('a', peakEwma({})));
  assert.ok(ok.ok && ok.value.lbPolicy.kind === 'peak-ewma' && ok.value.lbPolicy.decayMs === 10_000);
});

test('cluster: an unknown load balancing extension is refused, naming it', () => {
  const foreign = packResource(typeUrls.router, {});
  refusedWith(decode(clusterKind, edsCluster('a', { load_balancing_policy: { policies: [{ typed_extension_config: { name: 'acme.magic', typed_config: foreign } }] } })), 'acme.magic', 'load_balancing_policy');
});

test('cluster: typed_extension_protocol_options accepts only the retry budget', () => {
  refusedWith(decode(clusterKind, edsCluster('a', { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typedStruct('x', {}) } })), 'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]');
  refusedWith(decode(clusterKind, edsCluster('a', { typed_extension_protocol_options: { 'trellis.retry_budget': typedStruct('trellis.dev/trellis.RetryBudget', { ratio: 3 }) } })), 'ratio', 'between 0 and 1');
  refusedWith(decode(clusterKind, edsCluster('a', { typed_extension_protocol_options: { 'trellis.retry_budget': packResource(typeUrls.router, {}) } })), typeUrls.router);
});

test('cluster: a TypedStruct where no extension belongs is still refused', () => {
  refusedWith(decode(clusterKind, edsCluster('a', { transport_socket: { name: 'tls', typed_config: typedStruct('trellis.dev/trellis.RetryBudget', {}) } })), 'transport_socket', 'TypedStruct');
});

test('cluster: outlier detection and breakers the sidecar cannot honour are refused', () => {
  refusedWith(decode(clusterKind, edsCluster('a', { outlier_detection: { enforcing_consecutive_5xx: { value: 50 } } })), 'enforcing_consecutive_5xx', '0 or 100');
  refusedWith(decode(clusterKind, edsCluster('a', { outlier_detection: { split_external_local_origin_errors: true } })), 'split_external_local_origin_errors');
  refusedWith(decode(clusterKind, edsCluster('a', { outlier_detection: { base_ejection_time: { seconds: 60 }, max_ejection_time: { seconds: 10 } } })), 'max_ejection_time');
  refusedWith(decode(clusterKind, edsCluster('a', { circuit_breakers: { thresholds: [{ retry_budget: { min_retry_concurrency: { value: 1 } } }] } })), 'retry_budget');
  // Envoy's defaults where a field is absent: success-rate ejection on, 10% max ejection
  const od = decode(clusterKind, edsCluster('a', { outlier_detection: {} }));
  assert.ok(od.ok);
  assert.deepEqual(od.value.outlierDetection, {
    consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 10,
    successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
  });
});

function routeWith(extra: Obj): Obj {
  return outboundRoutes(['api'], { api: [{ name: 'x', match: { prefix: '/x' }, route: { cluster: 'api.default' }, ...extra }] });
}

test('route: retry policies the sidecar cannot honour are refused', () => {
  refusedWith(decode(routeKind, routeWith({ route: { cluster: 'api.default', retry_policy: { retry_on: 'refused-stream' } } })), 'route "x"', 'retry_on "refused-stream"');
  refusedWith(decode(routeKind, routeWith({ route: { cluster: 'api.default', retry_policy: { retry_on: '5xx', retry_host_predicate: [{ name: 'p' }] } } })), 'retry_host_predicate');
  refusedWith(decode(routeKind, routeWith({ route: { cluster: 'api.default', retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: { seconds: 1 }, max_interval: { nanos: 1000 } } } } })), 'max_interval');
  refusedWith(decode(routeKind, routeWith({ route: { cluster: 'api.default' }, typed_per_filter_config: { 'trellis.retry': typedStruct('trellis.dev/trellis.RetryOptions', {}) } })), 'needs route.retry_policy');
  // Envoy's defaults: one retry, 25 ms base, ten times the base as the cap
  const r = decode(routeKind, routeWith({ route: { cluster: 'api.default', retry_policy: { retry_on: '5xx' } } }));
  assert.ok(r.ok);
  assert.deepEqual(r.value.virtualHosts[0].routes[0].retry, {
    maxRetries: 1, retryOn: ['5xx'], retriableStatusCodes: [], perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, maxBufferBytes: 65536,
  });
});

const fault = (f: Obj): Obj => ({ typed_per_filter_config: { 'envoy.filters.http.fault': packResource('type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', f) } });

test('route: faults decode with any denominator; unsupported fault kinds are refused', () => {
  const r = decode(routeKind, routeWith(fault({ delay: { fixed_delay: { seconds: 2 }, percentage: { numerator: 25, denominator: 'HUNDRED' } }, abort: { http_status: 500, percentage: { numerator: 5, denominator: 'TEN_THOUSAND' } } })));
  assert.ok(r.ok, !r.ok ? r.error : '');
  assert.deepEqual(r.value.virtualHosts[0].routes[0].fault, { delay: { percent: 25, delayMs: 2000 }, abort: { percent: 0.05, httpStatus: 500 } });
  refusedWith(decode(routeKind, routeWith(fault({ abort: { grpc_status: 14, percentage: { numerator: 1 } } }))), 'envoy.filters.http.fault', 'http_status');
  refusedWith(decode(routeKind, routeWith(fault({ abort: { header_abort: {}, percentage: { numerator: 1 } } }))), 'http_status');
  refusedWith(decode(routeKind, routeWith(fault({ delay: { header_delay: {}, percentage: { numerator: 1 } } }))), 'header_delay');
  refusedWith(decode(routeKind, routeWith(fault({ abort: { http_status: 503 } }))), 'abort.percentage is required');
  refusedWith(decode(routeKind, routeWith(fault({ abort: { http_status: 503, percentage: { numerator: 1 } }, headers: [{ name: 'x-test' }] }))), 'headers is not supported');
  refusedWith(decode(routeKind, routeWith({ typed_per_filter_config: { 'envoy.filters.http.fault': typedStruct('trellis.dev/x', {}) } })), 'envoy.filters.http.fault', 'TypedStruct');
});

test('route: Trellis extensions are accepted on routes only; elsewhere and unknown ones are refused', () => {
  const vhostLevel = outboundRoutes(['api']);
  vhostLevel.virtual_hosts[0].typed_per_filter_config = fault({ abort: { http_status: 503, percentage: { numerator: 1 } } }).typed_per_filter_config;
  refusedWith(decode(routeKind, vhostLevel), 'virtual host "api.default"', 'HTTPFault');
  refusedWith(decode(routeKind, routeWith({ typed_per_filter_config: { 'trellis.extension/shiny': { type_url: 'type.googleapis.com/acme.example.com.ShinyFilter', value: new Uint8Array() } } })), 'acme.example.com.ShinyFilter');
});
