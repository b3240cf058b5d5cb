import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

// An instance that answers every request 500 is ejected by the calling sidecar after 5 failures,
// and `trellis get endpoints SERVICE` (table and -o json) shows it ejected, with until when,
// while the healthy instance stays healthy. Real control plane, sidecars and CLI.

const resources = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api }
spec:
  targetRef: { kind: Service, name: api }
  loadBalancer: { type: RoundRobin }
  outlierDetection: { consecutiveFailures: 5, baseEjectionTime: 120s }
`;

/** An app that answers every request 500 (the sidecar relays it; 500 is not retried by default). */
async function alwaysFailing(address: string, port: number): Promise<() => Promise<void>> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('broken\n');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
  return () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

describe('an ejected endpoint in trellis get endpoints', () => {
  const mesh = new Mesh('127.0.93');
  let client: Pod;
  let broken: Pod;

  before(async () => {
    await mesh.startControl();
    const applied = await mesh.apply(resources);
    assert.equal(applied.code, 0, applied.stderr);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('api-1', 'api');
    broken = await mesh.addPod('api-2', 'api', {}, { app: alwaysFailing });
    await mesh.waitInSync(15_000, 3);
  });
  after(() => mesh.close());

  it('ejects the failing instance after 5 failures; the other answers everything after that', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await mesh.request(client, 'api', `/r${i}`)).status);
    assert.equal(statuses.filter((s) => s === 500).length, 5, `statuses: ${statuses.join(',')}`);
    assert.ok(statuses.slice(-15).every((s) => s === 200), `after the ejection: ${statuses.slice(-15).join(',')}`);
  });

  it('shows it ejected, with until when, in -o json and in the table', async () => {
    const rows = await waitFor(async () => {
      const r = await mesh.cli(['get', 'endpoints', 'api', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const parsed = JSON.parse(r.stdout) as Record<string, any>[];
      return parsed.some((e) => e.state === 'ejected') ? parsed : undefined;
    }, 10_000, 'the ejection to show in trellis get endpoints');
    assert.deepEqual(rows.map((e) => e.service), ['api', 'api'], 'only the endpoints of api');
    const ejected = rows.find((e) => e.proxyId === broken.id)!;
    assert.equal(ejected.state, 'ejected');
    const left = Date.parse(ejected.ejectedUntil) - Date.now();
    assert.ok(left > 60_000 && left <= 132_000, `ejected until ${ejected.ejectedUntil} (120 s + up to 10% jitter from the ejection)`);
    const healthy = rows.find((e) => e.proxyId === 'api-1')!;
    assert.equal(healthy.state, 'healthy');
    assert.equal(healthy.ejectedUntil, null);
    assert.equal(typeof healthy.ewmaMs, 'number');

    const table = await mesh.cli(['get', 'endpoints', 'api']);
    assert.equal(table.code, 0, table.stderr);
    const line = table.stdout.split('\n').find((l) => l.includes(`${broken.address}:`));
    assert.ok(line, table.stdout);
    assert.match(line, /ejected until \d{1,2}:\d{2}:\d{2}/);
    assert.doesNotMatch(table.stdout.split('\n').find((l) => l.includes('api-1')) ?? '', /ejected/);
  });
});
