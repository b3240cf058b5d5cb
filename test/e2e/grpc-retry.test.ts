// gRPC retries on UNAVAILABLE through a real mesh: a @grpc/grpc-js client calls its sidecar over
// h2c, which balances round-robin over two echo instances behind their own sidecars (mTLS between
// sidecars), one of them broken (every call answered UNAVAILABLE, status 14, trailers-only).
// Without a retry policy for gRPC, the client sees the broken instance's errors; with a
// ResiliencePolicy that retries on `unavailable`, none, and the client sidecar counts the retries
// in trellis_retries_total{reason="unavailable"}; a status the policy does not name
// (INVALID_ARGUMENT) still reaches the client, tried once. Outlier detection is off so the broken
// instance keeps its share. Addresses: 127.0.88.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Mesh, waitFor, type Pod, sidecarMetric as metric } from './mesh-harness.js';
import { encode, meshClient, startEchoServer, unary, type EchoServerLog, echoMeshServices } from './grpc-echo.js';

const calls = 40;

const services = echoMeshServices;

/** Round-robin, no ejection, a retry budget that never runs out; `retries` added when given. */
function policy(retries: string): string {
  return `
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: echo-resilience }
spec:
  targetRef: { kind: Service, name: echo }
  loadBalancer: { type: RoundRobin }
  outlierDetection: { enabled: false }
  retryBudget: { ratio: 1, minRetriesPerSecond: 1000 }
${retries}`;
}

const retriedUnavailable = /^trellis_retries_total\{[^}]*reason="unavailable"/;

describe('gRPC retries on UNAVAILABLE through the mesh', () => {
  const mesh = new Mesh('127.0.88');
  let client: Pod;
  let healthy: EchoServerLog;
  let broken: EchoServerLog;
  let grpcClient: ReturnType<typeof meshClient>;

  /** `calls` unary calls one after another; the codes the client saw (0 = OK). */
  async function callAll(key: string): Promise<number[]> {
    const codes: number[] = [];
    for (let i = 0; i < calls; i++) {
      const r = await unary(grpcClient, encode({ key }), { deadlineMs: 5000 });
      codes.push(r.err === null ? 0 : r.err.code);
    }
    return codes;
  }

  async function applyAndSync(yaml: string): Promise<void> {
    const r = await mesh.apply(yaml);
    assert.equal(r.code, 0, r.stderr);
    await mesh.waitInSync(15_000, 3);
  }

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(services)).code, 0);
    const token = (service: string) => mesh.joinToken(service);
    const echoToken = await token('echo');
    await mesh.addPod('echo-1', 'echo', {}, {
      token: echoToken,
      app: async (address, port) => {
        const s = await startEchoServer(address, port, 'echo-1');
        healthy = s.log;
        return s.stop;
      },
    });
    await mesh.addPod('echo-2', 'echo', {}, {
      token: echoToken,
      app: async (address, port) => {
        const s = await startEchoServer(address, port, 'echo-2', { failAllWith: grpc.status.UNAVAILABLE });
        broken = s.log;
        return s.stop;
      },
    });
    client = await mesh.addPod('client-1', 'client', {}, { token: await token('client') });
    await applyAndSync(policy(''));
    grpcClient = meshClient(client.address, 'echo');
    // both instances in the client sidecar's endpoints, over mTLS
    await waitFor(async () => {
      await unary(grpcClient, encode({ key: 'warmup' }), { deadlineMs: 5000 });
      return (healthy.calls.get('warmup') ?? 0) > 0 && (broken.calls.get('warmup') ?? 0) > 0;
    }, 30_000, 'calls to reach both echo instances');
  });

  after(async () => {
    grpcClient?.close();
    await mesh.close();
  });

  it('without a gRPC retry condition, the broken instance\'s UNAVAILABLE reaches the client', { timeout: 60_000 }, async () => {
    const codes = await callAll('no-retry');
    const failed = codes.filter((c) => c !== 0);
    assert.ok(failed.length > 0, 'some calls failed');
    assert.ok(failed.every((c) => c === grpc.status.UNAVAILABLE), `only UNAVAILABLE: ${failed.join(',')}`);
    // round-robin over two: about half went to the broken instance, none of them retried
    assert.equal(failed.length, broken.calls.get('no-retry') ?? 0);
    assert.equal(codes.length - failed.length, healthy.calls.get('no-retry') ?? 0);
  });

  it('with retries on unavailable: no failed call, the retries counted by the client sidecar', { timeout: 60_000 }, async () => {
    await applyAndSync(policy('  retries: { attempts: 2, retryOn: [unavailable] }'));
    const before = await metric(client, retriedUnavailable);
    const codes = await callAll('retry');
    assert.deepEqual(codes.filter((c) => c !== 0), [], 'no call failed');
    assert.equal(healthy.calls.get('retry'), calls, 'every call answered by the healthy instance');
    const tried = broken.calls.get('retry') ?? 0;
    assert.ok(tried > 0, 'the broken instance was still tried');
    // each try on the broken instance was retried (round-robin sends the retry to the healthy one)
    assert.equal((await metric(client, retriedUnavailable)) - before, tried);
  });

  it('with retries on unavailable, INVALID_ARGUMENT is not retried: the client sees it', { timeout: 60_000 }, async () => {
    const before = await metric(client, /^trellis_retries_total\{/);
    const r = await unary(grpcClient, encode({ key: 'invalid', status: grpc.status.INVALID_ARGUMENT, message: 'bad input' }), { deadlineMs: 5000 });
    assert.equal(r.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(healthy.calls.get('invalid'), 1, 'tried once on the healthy instance');
    // if round-robin picked the broken instance first, its UNAVAILABLE was retried once
    const brokenTries = broken.calls.get('invalid') ?? 0;
    assert.ok(brokenTries <= 1);
    assert.equal((await metric(client, /^trellis_retries_total\{/)) - before, brokenTries);
  });
});
