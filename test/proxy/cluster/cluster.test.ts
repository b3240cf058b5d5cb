// Outlier detection and peak-EWMA over real sockets through ProxyRuntime: a host that discovery
// still lists but whose process is gone (a closed port) stops getting requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { AdminServer } from '../../../src/proxy/admin.js';
import type { LbPolicy, ProxyConfig } from '../../../src/proxy/config/proxy-config.js';
import { endpoint, freePort, httpUpstream, outboundConfig, request, withTimeout, type Upstream } from '../proxy-test-support.js';

const host = (n: number): string => `127.0.31.${n}`;

interface Scenario {
  rt: ProxyRuntime;
  admin: AdminServer;
  live: Upstream[];
  counts: Map<string, number>;
  dead: { address: string; port: number };
  listen: { address: string; port: number };
  close(): Promise<void>;
}

async function scenario(base: number, lbPolicy: LbPolicy): Promise<Scenario> {
  const counts = new Map<string, number>();
  const live = await Promise.all([1, 2].map((i) =>
    httpUpstream(host(base + i), (_req, res) => {
      counts.set(host(base + i), (counts.get(host(base + i)) ?? 0) + 1);
      res.end('ok');
    })));
  // A port nothing listens on: connections are refused, as for a crashed process.
  const dead = { address: host(base + 3), port: await freePort(host(base + 3)) };
  const listen = { address: host(base + 4), port: await freePort(host(base + 4)) };
  const config: ProxyConfig = outboundConfig({
    ...listen,
    services: [{ name: 'api', endpoints: [...live.map((u) => endpoint(u.address, u.port)), endpoint(dead.address, dead.port)] }],
  });
  const cc = config.clusters.get('api.default')!;
  cc.lbPolicy = lbPolicy;
  cc.outlierDetection = { consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 };
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  rt.applyConfig(config);
  await withTimeout(rt.listening(), 3000, 'listeners bound');
  const admin = new AdminServer({ address: host(base + 5), port: 0, runtime: rt });
  await admin.listen();
  return {
    rt, admin, live, counts, dead, listen,
    async close() {
      await rt.drain(0);
      await admin.close();
      await Promise.all(live.map((u) => u.close()));
    },
  };
}

async function send(s: Scenario, n: number): Promise<{ ok: number; connectErrors: number }> {
  let ok = 0;
  let connectErrors = 0;
  for (let i = 0; i < n; i++) {
    const r = await request({ host: s.listen.address, port: s.listen.port, headers: { host: 'api' } });
    if (r.status === 200) ok++;
    else if (r.headers['x-trellis-error'] === 'upstream-connect') connectErrors++;
    else assert.fail(`unexpected ${r.status} ${r.headers['x-trellis-error']}`);
  }
  return { ok, connectErrors };
}

test('round-robin: a dead host still listed is ejected after 5 connect failures and gets no more requests', async () => {
  const s = await scenario(10, { kind: 'round-robin' });
  try {
    const first = await send(s, 30);
    assert.equal(first.connectErrors, 5, 'exactly the 5 failures that trip the detector');
    const after = await send(s, 40);
    assert.deepEqual(after, { ok: 40, connectErrors: 0 });
    assert.equal((s.counts.get(s.live[0].address) ?? 0) + (s.counts.get(s.live[1].address) ?? 0), 65);

    const view = JSON.parse((await request({ host: host(15), port: s.admin.port, path: '/endpoints' })).body) as Array<Record<string, unknown>>;
    assert.equal(view.length, 3);
    const deadView = view.find((e) => e.address === s.dead.address)!;
    assert.equal(deadView.cluster, 'api.default');
    assert.equal(deadView.port, s.dead.port);
    assert.equal(deadView.state, 'ejected');
    assert.ok(Date.parse(deadView.ejectedUntil as string) > Date.now() + 20_000, `until ${String(deadView.ejectedUntil)}`);
    for (const e of view.filter((v) => v !== deadView)) {
      assert.equal(e.state, 'healthy');
      assert.equal(e.ejectedUntil, null);
      assert.equal(e.inFlight, 0);
      assert.equal(typeof e.ewmaMs, 'number');
      assert.equal(e.zone, '');
    }

    const m = (await request({ host: host(15), port: s.admin.port, path: '/metrics' })).body;
    assert.match(m, /trellis_endpoint_ejections_total\{cluster="api.default",reason="consecutive-failures"\} 1/);
    assert.match(m, new RegExp(`trellis_endpoint_ejected\\{cluster="api.default",endpoint="${s.dead.address}:${s.dead.port}"\\} 1`));
    assert.match(m, new RegExp(`trellis_endpoint_ejected\\{cluster="api.default",endpoint="${s.live[0].address}:${s.live[0].port}"\\} 0`));
    assert.match(m, /trellis_endpoint_ewma_seconds\{cluster="api.default",endpoint="127\.0\.31\.11:\d+"\} [\d.e-]+/);
    assert.match(m, /trellis_endpoint_in_flight\{cluster="api.default",endpoint="127\.0\.31\.12:\d+"\} 0/);
  } finally {
    await s.close();
  }
});

test('peak-EWMA: the dead host gets a handful of requests at most, a refused connection never makes it look cheap', async () => {
  const s = await scenario(20, { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 });
  try {
    // Without history the dead host costs the default 30 ms, so it is tried only when a live one
    // looks slower than that (a first-connection or GC peak); each refusal keeps it at ≥ 30 ms.
    const r = await send(s, 80);
    assert.equal(r.ok + r.connectErrors, 80);
    assert.ok(r.connectErrors <= 5, `failures ${r.connectErrors}`);
    const dead = s.rt.clusters.get('api.default')!.hosts.find((h) => h.endpoint.address === s.dead.address)!;
    if (r.connectErrors > 0) assert.ok(s.rt.clusters.get('api.default')!.ewmaMs(dead)! > 20, 'a refusal is not a fast answer');
  } finally {
    await s.close();
  }
});

test('peak-EWMA over real sockets: a slow instance gets a small share, round-robin gives it a third', async () => {
  // Only shares are asserted, never times: 60 ms against ~1 ms leaves a wide margin on a busy machine.
  const run = async (base: number, lbPolicy: LbPolicy): Promise<number> => {
    const counts = new Map<string, number>();
    const ups = await Promise.all([1, 2, 3].map((i) =>
      httpUpstream(host(base + i), (_req, res) => {
        counts.set(host(base + i), (counts.get(host(base + i)) ?? 0) + 1);
        if (i === 3) setTimeout(() => res.end('slow'), 60);
        else res.end('fast');
      })));
    const listen = { address: host(base + 4), port: await freePort(host(base + 4)) };
    const config = outboundConfig({ ...listen, services: [{ name: 'api', endpoints: ups.map((u) => endpoint(u.address, u.port)) }] });
    config.clusters.get('api.default')!.lbPolicy = lbPolicy;
    const rt = new ProxyRuntime({ listenerDrainMs: 100 });
    try {
      rt.applyConfig(config);
      await withTimeout(rt.listening(), 3000, 'listeners bound');
      // Four clients in a closed loop, 40 requests each.
      await Promise.all([0, 1, 2, 3].map(async () => {
        for (let i = 0; i < 40; i++) {
          const r = await request({ ...listen, host: listen.address, headers: { host: 'api' } });
          assert.equal(r.status, 200);
        }
      }));
      return (counts.get(host(base + 3)) ?? 0) / 160;
    } finally {
      await rt.drain(0);
      await Promise.all(ups.map((u) => u.close()));
    }
  };
  const rr = await run(30, { kind: 'round-robin' });
  const ewma = await run(40, { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 });
  assert.ok(rr > 0.3 && rr < 0.37, `round-robin share ${rr}`);
  assert.ok(ewma < 0.1, `peak-EWMA share ${ewma}`);
});

test("pools close idle sockets after the cluster's idle timeout when it is shorter than the runtime's sweep", async () => {
  const { Cluster } = await import('../../../src/proxy/cluster/cluster.js');
  const { cluster: clusterConfig } = await import('../proxy-test-support.js');
  const c = new Cluster(clusterConfig('idle', { idleTimeoutMs: 1500 }), { idleTimeoutMs: 4000 });
  try {
    c.updateEndpoints([endpoint('127.0.31.250', 9)]);
    assert.equal(c.hosts[0].pool.idleTimeoutMs, 1500);
    c.updateConfig(clusterConfig('idle', { idleTimeoutMs: 3_600_000 }));
    assert.equal(c.hosts[0].pool.idleTimeoutMs, 4000, 'the runtime sweep still bounds an hour-long timeout');
  } finally {
    c.destroy();
  }
});
