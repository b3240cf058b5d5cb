import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources, type ResourceError } from '../../src/resources/validate.js';

const doc = (spec: string, name = 'p'): string => `apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: ${name} }
spec:
${spec.replace(/^\n/, '').replace(/^/gm, '  ')}
`;

function errors(text: string): ResourceError[] {
  const r = parseResources(text, 'p.yaml');
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.errors;
}

function refusedAt(text: string, path: string, message: RegExp): void {
  const errs = errors(text);
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `expected an error at ${path}, got ${JSON.stringify(errs.map((e) => [e.path, e.message]))}`);
  assert.match(hit.message, message);
  assert.equal(hit.resource, 'ResiliencePolicy/p');
}

describe('ResiliencePolicy schema', () => {
  it('accepts a full Service policy and keeps what was written (defaults come from the compiler)', () => {
    const r = parseResources(doc(`
targetRef: { kind: Service, name: api }
loadBalancer: { type: PeakEWMA, decayTime: 5s, defaultRtt: 20ms }
timeouts: { connect: 500ms, request: 10s, perTry: 2s, idle: 1m }
retries:
  attempts: 3
  perTryTimeout: 1s
  retryOn: [connect-failure, reset, gateway-error, retriable-status-codes]
  statusCodes: [409]
  backoff: { baseInterval: 50ms, maxInterval: 1s }
  nonIdempotent: true
  maxBufferBytes: 32768
retryBudget: { ratio: 0.1, minRetriesPerSecond: 5, window: 30s }
circuitBreaker: { maxConnections: 100, maxPendingRequests: 50, maxRequests: 200, maxRetries: 5 }
connectionPool: { maxRequestsPerConnection: 100 }
outlierDetection:
  consecutiveFailures: 3
  interval: 5s
  baseEjectionTime: 10s
  maxEjectionTime: 2m
  maxEjectionPercent: 30
  successRate: { minimumHosts: 3, requestVolume: 50, stdevFactor: 1.5 }
`), 'p.yaml');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const p = r.resources[0];
    assert.equal(p.kind, 'ResiliencePolicy');
    if (p.kind === 'ResiliencePolicy') {
      assert.equal(p.metadata.namespace, 'default');
      assert.deepEqual(p.spec.loadBalancer, { type: 'PeakEWMA', decayTime: '5s', defaultRtt: '20ms' });
      assert.equal(p.spec.retries?.attempts, 3);
      assert.equal(p.spec.faults, undefined);
    }
  });

  it('accepts a route-level policy with faults, and outlier detection turned off on a Service', () => {
    const r = parseResources(doc(`
targetRef: { kind: HTTPRoute, name: api, sectionName: checkout }
timeouts: { request: 3s }
faults: { delay: { percent: 0.1, duration: 200ms }, abort: { percent: 5, httpStatus: 503 } }
`) + '---\n' + doc(`
targetRef: { kind: Service, name: api }
outlierDetection: { enabled: false }
`, 'q'), 'p.yaml');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  });

  it('names the field of each error', () => {
    refusedAt(doc('loadBalancer: { type: Random }'), 'spec.targetRef', /expected object|Required|received undefined/i);
    refusedAt(doc('targetRef: { kind: Deployment, name: api }'), 'spec.targetRef.kind', /Service, HTTPRoute or GRPCRoute/);
    refusedAt(doc('targetRef: { kind: Service, name: API }'), 'spec.targetRef.name', /DNS-1123/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nloadBalancer: { type: Random }'), 'spec.loadBalancer.type', /PeakEWMA, LeastRequest or RoundRobin/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\ntimeouts: { request: 10 }'), 'spec.timeouts.request', /string|duration/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\ntimeouts: { connect: 10 seconds }'), 'spec.timeouts.connect', /duration such as 500ms/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\ntimeouts: { connect: 0s }'), 'spec.timeouts.connect', /longer than 0/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { attempts: -1 }'), 'spec.retries.attempts', /negative/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { retryOn: [timeout] }'), 'spec.retries.retryOn[0]', /connect-failure/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { statusCodes: [700] }'), 'spec.retries.statusCodes[0]', /HTTP status/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { retryOn: [reset], statusCodes: [409] }'), 'spec.retries.statusCodes', /retriable-status-codes/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { backoff: { baseInterval: 1s, maxInterval: 10ms } }'), 'spec.retries.backoff.maxInterval', /baseInterval/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretries: { maxBufferBytes: 1e9 }'), 'spec.retries.maxBufferBytes', /16 MiB/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretryBudget: { ratio: 2 }'), 'spec.retryBudget.ratio', /between 0 and 1/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\ncircuitBreaker: { maxRequests: 1.5 }'), 'spec.circuitBreaker.maxRequests', /whole number/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\ncircuitBreaker: { maxQueue: 1 }'), 'spec.circuitBreaker', /maxQueue/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\noutlierDetection: { maxEjectionPercent: 150 }'), 'spec.outlierDetection.maxEjectionPercent', /between 0 and 100/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\noutlierDetection: { enabled: false, interval: 1s }'), 'spec.outlierDetection', /enabled: false/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\noutlierDetection: { baseEjectionTime: 1m, maxEjectionTime: 10s }'), 'spec.outlierDetection.maxEjectionTime', /baseEjectionTime/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nloadBalancer: { type: RoundRobin, decayTime: 5s }'), 'spec.loadBalancer.decayTime', /PeakEWMA/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nloadBalancer: { type: PeakEWMA, choiceCount: 3 }'), 'spec.loadBalancer.choiceCount', /LeastRequest/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nfaults: { abort: { percent: 1, httpStatus: 503 } }'), 'spec.faults', /route-level/);
    refusedAt(doc('targetRef: { kind: Service, name: api, sectionName: a }'), 'spec.targetRef.sectionName', /only allowed with kind HTTPRoute/);
    refusedAt(doc('targetRef: { kind: HTTPRoute, name: api }\ncircuitBreaker: { maxRequests: 1 }'), 'spec.circuitBreaker', /target the Service/);
    refusedAt(doc('targetRef: { kind: HTTPRoute, name: api }\ntimeouts: { idle: 1m }'), 'spec.timeouts.idle', /target the Service/);
    refusedAt(doc('targetRef: { kind: HTTPRoute, name: api }\nconnectionPool: { maxRequestsPerConnection: 1 }'), 'spec.connectionPool', /target the Service/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nconnectionPool: { maxRequestsPerConnection: 0 }'), 'spec.connectionPool.maxRequestsPerConnection', /at least 1 \(leave it out for no limit\)/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nconnectionPool: { maxConnections: 5 }'), 'spec.connectionPool', /maxConnections/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nconnectionPool: { h2UpgradePolicy: ALWAYS }'), 'spec.connectionPool.h2UpgradePolicy', /DEFAULT.*UPGRADE.*DO_NOT_UPGRADE|Invalid enum/);
    refusedAt(doc('targetRef: { kind: HTTPRoute, name: api }\nfaults: { delay: { percent: 101, duration: 1s } }'), 'spec.faults.delay.percent', /between 0 and 100/);
    refusedAt(doc('targetRef: { kind: HTTPRoute, name: api }\nfaults: { abort: { percent: 1, httpStatus: 42 } }'), 'spec.faults.abort.httpStatus', /HTTP status/);
    refusedAt(doc('targetRef: { kind: Service, name: api }\nretry: { attempts: 1 }'), 'spec', /retry/);
  });
});

describe('HTTPRoute per-rule resilience (Gateway API)', () => {
  const route = (rule: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs: [{ name: api }]
${rule.replace(/^/gm, '      ')}
`;

  it('accepts timeouts.backendRequest and retry (GEP-1731)', () => {
    const r = parseResources(route('timeouts: { request: 5s, backendRequest: 1s }\nretry: { codes: [503, 504], attempts: 3, backoff: 100ms }'), 'r.yaml');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  });

  it('names the field of each error', () => {
    const at = (rule: string, path: string, message: RegExp): void => {
      const r = parseResources(route(rule), 'r.yaml');
      assert.equal(r.ok, false);
      const hit = !r.ok && r.errors.find((e) => e.path === path);
      assert.ok(hit, `expected an error at ${path}, got ${JSON.stringify(!r.ok && r.errors)}`);
      assert.match(hit.message, message);
    };
    at('timeouts: { request: 1s, backendRequest: 2s }', 'spec.rules[0].timeouts.backendRequest', /timeouts.request/);
    at('retry: { codes: [200] }', 'spec.rules[0].retry.codes[0]', /400-599/);
    at('retry: { attempts: 11 }', 'spec.rules[0].retry.attempts', /at most 10/);
    at('retry: { backoff: fast }', 'spec.rules[0].retry.backoff', /duration/);
  });
});
