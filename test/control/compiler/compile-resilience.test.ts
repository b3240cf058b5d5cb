// ResiliencePolicy → typed settings (merge, precedence, conflicts) → the Envoy fields of docs/xds.md.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { clusterResilienceFields, routeResilienceFields } from '../../../src/control/compiler/compile-resilience.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { defaultClusterResilience, defaultRetryPolicy } from '../../../src/control/compiler/resilience-defaults.js';
import { clusterResilience, routeResilience } from '../../../src/control/compiler/resilience-merge.js';
import { indexPolicies } from '../../../src/control/compiler/resilience-policies.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ResiliencePolicy } from '../../../src/resources/resilience-policy.js';
import { unpackAny, type AnyMessage } from '../../../src/xds/any.js';
import { fromStruct } from '../../../src/xds/node.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { nodeInfo, resources } from '../helpers.js';

function policy(spec: string, name = 'p', created = '2026-01-01T00:00:00.000Z'): ResiliencePolicy {
  const [r] = resources(`apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: ${name} }
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`);
  (r.metadata as Record<string, unknown>).creationTimestamp = created;
  return r as ResiliencePolicy;
}

const svc = (name: string): string => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec: {}\n`;

function typedStructValue(any: unknown): { typeUrl: string; value: Record<string, unknown> } {
  const a = any as AnyMessage;
  assert.equal(a.type_url, 'type.googleapis.com/xds.type.v3.TypedStruct');
  const ts = unpackAny(a) as Record<string, any>;
  return { typeUrl: ts.type_url, value: fromStruct(ts.value) };
}

describe('defaults (no policy)', () => {
  it('peak-EWMA, 1 s connect, Envoy breakers, outlier detection on, budget 0.2/10/10 s', () => {
    assert.deepEqual(clusterResilience(undefined), {
      connectTimeoutMs: 1000, idleTimeoutMs: 3_600_000,
      lbPolicy: { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 },
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
      retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 },
      outlierDetection: { consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
    });
  });

  it('retries idempotent requests twice on connect failure, reset, 502 and 503; no request timeout', () => {
    assert.deepEqual(routeResilience([]), {
      timeoutMs: 0,
      retry: {
        maxRetries: 2, retryOn: ['connect-failure', 'reset', 'retriable-status-codes'], retriableStatusCodes: [502, 503],
        perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, maxBufferBytes: 65536,
      },
    });
  });
});

describe('merging a policy over the defaults', () => {
  it('overrides cluster settings field by field', () => {
    const c = clusterResilience(policy(`
targetRef: { kind: Service, name: api }
loadBalancer: { type: LeastRequest, choiceCount: 3 }
timeouts: { connect: 250ms, idle: 90s }
circuitBreaker: { maxRequests: 10 }
connectionPool: { maxRequestsPerConnection: 1 }
retryBudget: { ratio: 0.5 }
outlierDetection: { consecutiveFailures: 2, baseEjectionTime: 10m, successRate: { minimumHosts: 2 } }
`));
    assert.deepEqual(c.lbPolicy, { kind: 'least-request', choiceCount: 3 });
    assert.equal(c.connectTimeoutMs, 250);
    assert.equal(c.idleTimeoutMs, 90_000);
    assert.equal(c.maxRequestsPerConnection, 1);
    assert.deepEqual(c.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 10, maxRetries: 3 });
    assert.deepEqual(c.retryBudget, { ratio: 0.5, minRetriesPerSecond: 10, windowMs: 10_000 });
    assert.deepEqual(c.outlierDetection, {
      consecutiveFailures: 2, intervalMs: 10_000, baseEjectionMs: 600_000, maxEjectionMs: 600_000, maxEjectionPercent: 50,
      successRate: { minimumHosts: 2, requestVolume: 100, stdevFactor: 1.9 },
    });
    assert.equal(clusterResilience(policy('targetRef: { kind: Service, name: api }\noutlierDetection: { enabled: false }')).outlierDetection, undefined);
    assert.deepEqual(clusterResilience(policy('targetRef: { kind: Service, name: api }\nloadBalancer: { type: PeakEWMA, defaultRtt: 5ms }')).lbPolicy,
      { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 5 });
    assert.deepEqual(clusterResilience(policy('targetRef: { kind: Service, name: api }\nloadBalancer: { type: RoundRobin }')).lbPolicy, { kind: 'round-robin' });
  });

  it('layers route settings: Service policy, route policy, rule policy, then the rule\'s own fields', () => {
    const service = policy(`
targetRef: { kind: Service, name: api }
timeouts: { request: 10s, perTry: 3s }
retries: { attempts: 4, retryOn: [5xx], backoff: { baseInterval: 100ms } }
`);
    const route = policy(`
targetRef: { kind: HTTPRoute, name: r }
retries: { nonIdempotent: true }
faults: { delay: { percent: 0.1, duration: 50ms } }
`);
    const rule = policy(`
targetRef: { kind: HTTPRoute, name: r, sectionName: pay }
timeouts: { request: 8s }
faults: { abort: { percent: 12.5, httpStatus: 503 } }
`);
    const r = routeResilience([service, route, rule], { backendRefs: [], matches: [], timeouts: { backendRequest: '2s' } } as never);
    assert.deepEqual(r, {
      timeoutMs: 8000,
      retry: {
        maxRetries: 4, retryOn: ['5xx'], retriableStatusCodes: [], perTryTimeoutMs: 2000,
        backoffBaseMs: 100, backoffMaxMs: 1000, nonIdempotent: true, maxBufferBytes: 65536,
      },
      fault: { delay: { percent: 0.1, delayMs: 50 }, abort: { percent: 12.5, httpStatus: 503 } },
    });
  });

  it('takes GEP-1731 retry fields from the rule; attempts 0 without a per-try timeout turns retries off', () => {
    const r = routeResilience([], { retry: { codes: [504, 503, 503], attempts: 1, backoff: '1s' } } as never);
    assert.deepEqual(r.retry, { ...defaultRetryPolicy(), retriableStatusCodes: [503, 504], maxRetries: 1, backoffBaseMs: 1000, backoffMaxMs: 10_000 });
    assert.equal(routeResilience([policy('targetRef: { kind: Service, name: api }\nretries: { attempts: 0 }')]).retry, undefined);
    assert.equal(routeResilience([policy('targetRef: { kind: Service, name: api }\nretries: { attempts: 0 }\ntimeouts: { perTry: 1s }')]).retry?.maxRetries, 0);
  });
});

describe('policy conflicts and targets', () => {
  const base = resources(svc('api') + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules: [{ name: pay, backendRefs: [{ name: api }] }]
`);

  it('gives the target to the older policy and tells the newer why it is not applied', () => {
    const older = policy('targetRef: { kind: Service, name: api }\nloadBalancer: { type: RoundRobin }', 'zz-old', '2026-01-01T00:00:00.000Z');
    const newer = policy('targetRef: { kind: Service, name: api }\nloadBalancer: { type: LeastRequest }', 'aa-new', '2026-01-02T00:00:00.000Z');
    const rs: Resource[] = [...base, newer, older];
    const index = indexPolicies(rs, meshServices(rs, []));
    assert.equal(index.services.get('api.default'), older);
    assert.deepEqual(index.status.get(older), { accepted: true });
    const st = index.status.get(newer)!;
    assert.equal(st.accepted, false);
    assert.ok(!st.accepted && st.reason === 'Conflicted' && /default\/zz-old/.test(st.message), JSON.stringify(st));
    const snap = compileSnapshot({ resources: rs, instances: [] }, nodeInfo({ service: 'web' }));
    assert.equal(snap.get(typeUrls.cluster)!.get('api.default')!.lb_policy, 'ROUND_ROBIN');
  });

  it('a whole-route policy and a rule policy do not conflict; unknown targets are reported', () => {
    const whole = policy('targetRef: { kind: HTTPRoute, name: r }', 'a');
    const one = policy('targetRef: { kind: HTTPRoute, name: r, sectionName: pay }', 'b');
    const noRule = policy('targetRef: { kind: HTTPRoute, name: r, sectionName: refund }', 'c');
    const noSvc = policy('targetRef: { kind: Service, name: ghost }', 'd');
    const rs: Resource[] = [...base, whole, one, noRule, noSvc];
    const index = indexPolicies(rs, meshServices(rs, []));
    assert.deepEqual(index.status.get(whole), { accepted: true });
    assert.deepEqual(index.status.get(one), { accepted: true });
    assert.deepEqual(index.status.get(noRule), { accepted: false, reason: 'TargetNotFound', message: 'HTTPRoute default/r has no rule named refund' });
    assert.deepEqual(index.status.get(noSvc), { accepted: false, reason: 'TargetNotFound', message: 'Service ghost.default does not exist' });
  });

  it('applies rule policies to the rule\'s routes in the snapshot, and the parent Service policy to the rest', () => {
    const rs: Resource[] = resources(svc('api') + '---\n' + svc('db') + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules:
    - name: pay
      matches: [{ path: { type: PathPrefix, value: /pay } }]
      backendRefs: [{ name: api }]
    - backendRefs: [{ name: api }]
`);
    rs.push(policy('targetRef: { kind: Service, name: api }\ntimeouts: { request: 7s }', 'svc'));
    rs.push(policy('targetRef: { kind: HTTPRoute, name: r, sectionName: pay }\nfaults: { abort: { percent: 100, httpStatus: 418 } }', 'rule'));
    const snap = compileSnapshot({ resources: rs, instances: [] }, nodeInfo({ service: 'web' }));
    const vhosts = snap.get(typeUrls.routeConfiguration)!.get('outbound')!.virtual_hosts as Record<string, any>[];
    const routes = vhosts.find((v) => v.name === 'api.default')!.routes as Record<string, any>[];
    const pay = routes.find((r) => r.name === 'r.0')!;
    const other = routes.find((r) => r.name === 'r.1')!;
    assert.deepEqual(pay.route.timeout, { seconds: 7 });
    assert.deepEqual(other.route.timeout, { seconds: 7 });
    assert.ok(pay.typed_per_filter_config['envoy.filters.http.fault']);
    assert.equal(other.typed_per_filter_config['envoy.filters.http.fault'], undefined);
    const db = vhosts.find((v) => v.name === 'db.default')!.routes[0];
    assert.equal(db.route.timeout, undefined, 'another service keeps the defaults');
  });
});

describe('typed settings → Envoy fields', () => {
  it('maps a cluster: lb policy, breakers, outlier detection, idle timeout, retry budget', () => {
    const c = defaultClusterResilience();
    c.outlierDetection!.successRate = { minimumHosts: 3, requestVolume: 20, stdevFactor: 1.5 };
    const x = clusterResilienceFields(c) as Record<string, any>;
    assert.deepEqual(x.connect_timeout, { seconds: 1 });
    assert.equal(x.lb_policy, undefined);
    const ext = x.load_balancing_policy.policies[0].typed_extension_config;
    assert.equal(ext.name, 'trellis.peak_ewma');
    assert.deepEqual(typedStructValue(ext.typed_config), { typeUrl: 'trellis.dev/trellis.lb.PeakEwma', value: { decay_ms: 10_000, default_rtt_ms: 30 } });
    assert.deepEqual(x.circuit_breakers, { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 1024 }, max_pending_requests: { value: 1024 }, max_requests: { value: 1024 }, max_retries: { value: 3 } }] });
    assert.deepEqual(x.outlier_detection, {
      consecutive_5xx: { value: 5 }, enforcing_consecutive_5xx: { value: 100 },
      consecutive_gateway_failure: { value: 5 }, enforcing_consecutive_gateway_failure: { value: 0 },
      interval: { seconds: 10 }, base_ejection_time: { seconds: 30 }, max_ejection_time: { seconds: 300 }, max_ejection_percent: { value: 50 },
      enforcing_success_rate: { value: 100 }, success_rate_minimum_hosts: { value: 3 }, success_rate_request_volume: { value: 20 }, success_rate_stdev_factor: { value: 1500 },
    });
    assert.deepEqual(x.common_http_protocol_options, { idle_timeout: { seconds: 3600 } });
    assert.deepEqual((clusterResilienceFields({ ...c, maxRequestsPerConnection: 1 }) as Record<string, any>).common_http_protocol_options,
      { idle_timeout: { seconds: 3600 }, max_requests_per_connection: { value: 1 } });
    assert.deepEqual(typedStructValue(x.typed_extension_protocol_options['trellis.retry_budget']),
      { typeUrl: 'trellis.dev/trellis.RetryBudget', value: { ratio: 0.2, min_retries_per_second: 10, window_ms: 10_000 } });
    const lr = clusterResilienceFields({ ...c, lbPolicy: { kind: 'least-request', choiceCount: 2 }, outlierDetection: undefined }) as Record<string, any>;
    assert.equal(lr.lb_policy, 'LEAST_REQUEST');
    assert.deepEqual(lr.least_request_lb_config, { choice_count: { value: 2 } });
    assert.equal(lr.outlier_detection, undefined, 'no outlier_detection: Envoy runs none');
    assert.equal((clusterResilienceFields({ ...c, lbPolicy: { kind: 'round-robin' } }) as Record<string, any>).lb_policy, 'ROUND_ROBIN');
  });

  it('maps a route: timeout, retry_policy, trellis.retry and the fault filter (parts per million)', () => {
    const { action, perFilter } = routeResilienceFields({
      timeoutMs: 1500,
      retry: { ...defaultRetryPolicy(), perTryTimeoutMs: 500, nonIdempotent: true, maxBufferBytes: 1024 },
      fault: { delay: { percent: 0.1, delayMs: 200 }, abort: { percent: 100, httpStatus: 503 } },
    });
    assert.deepEqual(action, {
      timeout: { seconds: 1, nanos: 500_000_000 },
      retry_policy: {
        retry_on: 'connect-failure,reset,retriable-status-codes', num_retries: { value: 2 },
        retry_back_off: { base_interval: { seconds: 0, nanos: 25_000_000 }, max_interval: { seconds: 0, nanos: 250_000_000 } },
        per_try_timeout: { seconds: 0, nanos: 500_000_000 }, retriable_status_codes: [502, 503],
      },
    });
    assert.deepEqual(typedStructValue(perFilter['trellis.retry']), { typeUrl: 'trellis.dev/trellis.RetryOptions', value: { non_idempotent: true, max_buffer_bytes: 1024 } });
    const fault = perFilter['envoy.filters.http.fault'] as unknown as AnyMessage;
    assert.equal(fault.type_url, 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault');
    assert.deepEqual(unpackAny(fault), {
      delay: { fault_delay_secifier: 'fixed_delay', fixed_delay: { seconds: 0, nanos: 200_000_000 }, percentage: { numerator: 1000, denominator: 'MILLION' } },
      abort: { error_type: 'http_status', http_status: 503, percentage: { numerator: 1_000_000, denominator: 'MILLION' } },
    });
    assert.deepEqual(routeResilienceFields({ timeoutMs: 0 }), { action: {}, perFilter: {} });
  });
});
