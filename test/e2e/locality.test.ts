// Locality failover through real sidecars: a client in zone-a keeps its traffic in zone-a, fails
// over to zone-b without a failed (idempotent) request when zone-a's instances are killed, and
// comes back when they return.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

const service = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8000 }] }
`;

/** Requests one after another (two loops), recording which pod answered or what failed. */
class Load {
  readonly outcomes: { status: number; pod?: string; error?: string }[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  constructor(private readonly mesh: Mesh, private readonly from: Pod) {
    this.loops = [this.loop(), this.loop()];
  }
  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const r = await this.mesh.request(this.from, 'api', '/');
        let pod: string | undefined;
        try { pod = (JSON.parse(r.body) as { pod?: string }).pod; } catch { /* the proxy's error body */ }
        this.outcomes.push({ status: r.status, pod, error: r.headers['x-trellis-error'] as string | undefined });
      } catch (err) {
        this.outcomes.push({ status: 0, error: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** The app of a pod that comes back: the harness's answer shape, on the pod's old address. */
function restartApp(pod: Pod): Promise<void> {
  pod.app = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pod: pod.id, service: pod.service, version: null, path: req.url }));
    });
  });
  return new Promise((resolve, reject) => pod.app.once('error', reject).listen(8000, pod.address, () => resolve()));
}

function zoneOf(pod: string | undefined): string {
  return pod?.startsWith('api-a') ? 'zone-a' : pod?.startsWith('api-b') ? 'zone-b' : `none (${pod})`;
}

describe('locality failover', () => {
  const mesh = new Mesh('127.0.68', 100);
  let client: Pod;
  const zoneA: Pod[] = [];

  before(async () => {
    await mesh.startControl();
    assert.equal((await mesh.apply(service)).code, 0);
    client = await mesh.addPod('client-1', 'client', { zone: 'zone-a', region: 'r1' });
    for (const i of [1, 2]) zoneA.push(await mesh.addPod(`api-a${i}`, 'api', { zone: 'zone-a', region: 'r1' }));
    for (const i of [1, 2]) await mesh.addPod(`api-b${i}`, 'api', { zone: 'zone-b', region: 'r1' });
    await mesh.waitInSync(15_000, 5);
  });
  after(() => mesh.close());

  it('shows the zone and region of each endpoint', async () => {
    const rows = await mesh.getJson('endpoints');
    const api = rows.filter((r) => r.service === 'api').map((r) => [r.proxyId, r.zone, r.region]).sort();
    assert.deepEqual(api, [['api-a1', 'zone-a', 'r1'], ['api-a2', 'zone-a', 'r1'], ['api-b1', 'zone-b', 'r1'], ['api-b2', 'zone-b', 'r1']]);
    const table = await mesh.cli(['get', 'endpoints']);
    assert.match(table.stdout, /ZONE\s+REGION/);
  });

  it('keeps traffic in the client\'s zone while it is healthy', async () => {
    const zones = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const r = await mesh.request(client, 'api', '/');
      assert.equal(r.status, 200, r.body);
      const z = zoneOf(JSON.parse(r.body).pod);
      zones.set(z, (zones.get(z) ?? 0) + 1);
    }
    assert.deepEqual([...zones], [['zone-a', 200]]);
  });

  it('fails over to zone-b without a failed request when zone-a dies, and comes back when it returns', async () => {
    const load = new Load(mesh, client);
    try {
      await waitFor(async () => load.outcomes.length >= 50, 20_000, 'load to start');
      // kill zone-a: sidecars SIGKILLed, apps gone (connections reset, new ones refused)
      for (const pod of zoneA) {
        await mesh.stopSidecar(pod, 'SIGKILL');
        pod.app.closeAllConnections();
        await new Promise<void>((resolve) => pod.app.close(() => resolve()));
      }
      const killedAt = load.outcomes.length;
      await waitFor(async () => {
        const recent = load.outcomes.slice(-50);
        return load.outcomes.length >= killedAt + 100 && recent.every((o) => zoneOf(o.pod) === 'zone-b');
      }, 20_000, 'traffic to move to zone-b');
      // the control plane drops them after its grace (3 s): they come back as new endpoints
      await waitFor(async () => {
        const rows = await mesh.getJson('endpoints');
        return !rows.some((r) => r.service === 'api' && String(r.proxyId).startsWith('api-a'));
      }, 20_000, 'zone-a endpoints to be dropped');
      for (const pod of zoneA) {
        await restartApp(pod);
        await mesh.startSidecar(pod);
      }
      await mesh.waitInSync(15_000, 5);
      const backAt = load.outcomes.length;
      await waitFor(async () => {
        const recent = load.outcomes.slice(-50);
        return load.outcomes.length >= backAt + 100 && recent.every((o) => zoneOf(o.pod) === 'zone-a');
      }, 20_000, 'traffic to return to zone-a');
    } finally {
      await load.stop();
    }
    const failed = load.outcomes.filter((o) => o.status !== 200);
    assert.deepEqual(failed, [], `no request may fail (of ${load.outcomes.length})`);
    assert.ok(load.outcomes.some((o) => zoneOf(o.pod) === 'zone-b'));
  });
});
