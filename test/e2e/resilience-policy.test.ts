import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

// A ResiliencePolicy applied with the CLI reaches every sidecar as typed config (its
// /config_dump), a bad one is refused naming the field, and a conflicting one says why in
// `trellis get policies`.

const services = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: echo }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo }
spec:
  parentRefs: [{ name: echo }]
  rules:
    - name: slow
      matches: [{ path: { type: PathPrefix, value: /slow } }]
      backendRefs: [{ name: echo }]
      timeouts: { request: 4s, backendRequest: 1s }
    - backendRefs: [{ name: echo }]
`;

const policy = `
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: echo }
spec:
  targetRef: { kind: Service, name: echo }
  loadBalancer: { type: LeastRequest }
  timeouts: { connect: 250ms, request: 9s }
  retries: { attempts: 3, retryOn: [connect-failure, gateway-error] }
  retryBudget: { ratio: 0.1 }
  circuitBreaker: { maxRequests: 64 }
  outlierDetection: { consecutiveFailures: 3, baseEjectionTime: 10s }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: echo-slow }
spec:
  targetRef: { kind: HTTPRoute, name: echo, sectionName: slow }
  faults: { delay: { percent: 0.1, duration: 100ms } }
`;

interface Dump { version: string; clusters: Record<string, any>[]; routes: Record<string, any>[] }

describe('ResiliencePolicy end to end', () => {
  const mesh = new Mesh('127.0.54');
  let client: Pod;

  async function dump(pod: Pod): Promise<Dump> {
    return (await (await fetch(`http://${pod.address}:15000/config_dump`)).json()) as Dump;
  }

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services)).code, 0);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('echo-1', 'echo');
    await mesh.waitInSync(15_000, 2);
  });
  after(() => mesh.close());

  it('starts every cluster on the defaults (peak-EWMA, outlier detection, 2 retries)', async () => {
    const d = await dump(client);
    const echo = d.clusters.find((c) => c.name === 'echo.default')!;
    assert.deepEqual(echo.lbPolicy, { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 });
    assert.equal(echo.outlierDetection.consecutiveFailures, 5);
    const route = d.routes.find((t) => t.name === 'outbound')!.virtualHosts.find((v: any) => v.name === 'echo.default').routes.find((r: any) => r.name === 'echo.1');
    assert.equal(route.retry.maxRetries, 2);
  });

  it('delivers an applied policy to the sidecar as typed config', async () => {
    const applied = await mesh.apply(policy, 'policy.yaml');
    assert.equal(applied.code, 0, applied.stderr);
    const echo = await waitFor(async () => {
      const c = (await dump(client)).clusters.find((x) => x.name === 'echo.default');
      return c?.lbPolicy.kind === 'least-request' ? c : undefined;
    }, 15_000, 'the policy to reach the sidecar');
    assert.deepEqual(echo.lbPolicy, { kind: 'least-request', choiceCount: 2 });
    assert.equal(echo.connectTimeoutMs, 250);
    assert.deepEqual(echo.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 64, maxRetries: 3 });
    assert.deepEqual(echo.retryBudget, { ratio: 0.1, minRetriesPerSecond: 10, windowMs: 10_000 });
    assert.deepEqual(echo.outlierDetection, { consecutiveFailures: 3, intervalMs: 10_000, baseEjectionMs: 10_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 });
    const routes = (await dump(client)).routes.find((t) => t.name === 'outbound')!.virtualHosts.find((v: any) => v.name === 'echo.default').routes;
    const slow = routes.find((r: any) => r.name === 'echo.0');
    const rest = routes.find((r: any) => r.name === 'echo.1');
    assert.equal(slow.timeoutMs, 4000, 'the rule\'s own timeout wins over the policy');
    assert.deepEqual(slow.retry, {
      maxRetries: 3, retryOn: ['connect-failure', 'gateway-error'], retriableStatusCodes: [], perTryTimeoutMs: 1000,
      backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, maxBufferBytes: 65536,
    });
    assert.deepEqual(slow.fault, { delay: { percent: 0.1, delayMs: 100 } });
    assert.equal(rest.timeoutMs, 9000);
    assert.equal(rest.fault, undefined);
    await mesh.waitInSync(15_000, 2);
    const proxies = await mesh.getJson('proxies');
    assert.ok(proxies.every((p) => p.lastNack === null), JSON.stringify(proxies.map((p) => p.lastNack)));
    assert.equal((await mesh.request(client, 'echo', '/')).status, 200);
  });

  it('lists endpoints with their live state fields (null where no sidecar reports them)', async () => {
    const rows = await mesh.getJson('endpoints');
    const echo = rows.find((r) => r.service === 'echo')!;
    assert.ok(echo, JSON.stringify(rows));
    assert.ok(['healthy', 'ejected', 'draining'].includes(echo.state), echo.state);
    for (const k of ['ejectedUntil', 'inFlight', 'ewmaMs']) assert.ok(k in echo, `row has ${k}`);
    assert.ok(echo.inFlight === null || typeof echo.inFlight === 'number');
    assert.ok(echo.ewmaMs === null || typeof echo.ewmaMs === 'number');
  });

  it('refuses a bad policy, naming the field', async () => {
    const bad = await mesh.apply(`
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: bad }
spec:
  targetRef: { kind: Service, name: echo }
  retryBudget: { ratio: 1.5 }
`, 'bad.yaml');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ResiliencePolicy\/bad/);
    assert.match(bad.stderr, /spec\.retryBudget\.ratio/);
    assert.match(bad.stderr, /between 0 and 1/);
    assert.ok(!(await mesh.getJson('policies')).some((p) => p.metadata.name === 'bad'));
  });

  it('gives a conflicting (newer) policy a status that says why, and leaves the older in force', async () => {
    const applied = await mesh.apply(`
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: echo-rival }
spec:
  targetRef: { kind: Service, name: echo }
  loadBalancer: { type: RoundRobin }
`, 'rival.yaml');
    assert.equal(applied.code, 0, applied.stderr);
    const policies = await mesh.getJson('policies');
    const rival = policies.find((p) => p.metadata.name === 'echo-rival')!;
    assert.equal(rival.status.accepted, false);
    assert.equal(rival.status.reason, 'Conflicted');
    assert.match(rival.status.message, /default\/echo already targets Service echo\.default/);
    assert.deepEqual(policies.find((p) => p.metadata.name === 'echo')!.status, { accepted: true });
    const table = await mesh.cli(['get', 'policies']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /echo-rival.*False \(Conflicted\)/);
    await mesh.waitInSync(15_000, 2);
    const echo = (await dump(client)).clusters.find((x) => x.name === 'echo.default')!;
    assert.equal(echo.lbPolicy.kind, 'least-request');
  });
});
