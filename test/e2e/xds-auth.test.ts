// `trellis control --xds-auth required`: the xDS port serves only sidecars that present a join
// token (or, once certified, proof of their certificate) for their own service.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Mesh, waitFor } from './mesh-harness.js';

const resources = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 8000 }] }
`;

describe('xDS port with --xds-auth required', () => {
  const mesh = new Mesh('127.0.69');
  const tokens: Record<string, string> = {};
  const log = () => readFileSync(path.join(mesh.dir, 'processes.log'), 'utf8');

  const createToken = async (service: string): Promise<string> => {
    const r = await mesh.cli(['token', 'create', '--service', service, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };
  const ready = async (address: string): Promise<boolean> => {
    const res = await fetch(`http://${address}:15000/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    return res?.status === 200;
  };

  before(async () => {
    await mesh.startControl({ args: ['--xds-auth', 'required'] });
    const applied = await mesh.apply(resources);
    assert.equal(applied.code, 0, applied.stderr);
    tokens.api = await createToken('api');
    tokens.web = await createToken('web');
  });
  after(() => mesh.close());

  it('a sidecar with its own join token gets config and serves; without a token or with another service\'s it is refused', { timeout: 90_000 }, async () => {
    const api = await mesh.addPod('api-1', 'api', {}, { token: tokens.api });
    const web = await mesh.addPod('web-1', 'web', {}, { token: tokens.web });
    const anonymous = await mesh.addPod('anon-1', 'api', {}, { wait: false });
    const impostor = await mesh.addPod('impostor-1', 'api', {}, { wait: false, token: tokens.web });
    await mesh.waitInSync(15_000, 2);

    const reply = await waitFor(async () => {
      const r = await mesh.request(web, 'api', '/hello');
      return r.status === 200 ? r : undefined;
    }, 15_000, 'web to reach api through the mesh');
    assert.equal(JSON.parse(reply.body).pod, 'api-1');

    // the refused sidecars keep retrying: give them time, then look
    await waitFor(async () => {
      const text = log();
      return /the xDS port requires credentials/.test(text) && /is for service \\?"web\\?" in namespace \\?"default\\?", not \\?"api\\?" in \\?"default\\?"/.test(text) ? true : undefined;
    }, 20_000, 'both refusals to be logged');
    await sleep(1000);
    assert.equal(await ready(anonymous.address), false, 'a sidecar without a token never gets config');
    assert.equal(await ready(impostor.address), false, "a sidecar with web's token cannot pass as api");
    const proxies = await mesh.getJson('proxies');
    const connected = proxies.filter((p) => p.connected).map((p) => p.id).sort();
    assert.deepEqual(connected, ['api-1', 'web-1']);
    assert.equal(proxies.some((p) => p.id === 'anon-1' || p.id === 'impostor-1'), false, 'refused sidecars are never registered');

    const text = log();
    // the control plane logs each refusal with its gRPC status; the sidecars see the same
    assert.match(text, /ADS stream refused/);
    assert.match(text, /"code":16[^\n]*the xDS port requires credentials/);
    assert.match(text, /"code":7[^\n]*is for service \\?"web\\?"/);
    assert.ok(api.sidecar);
  });

  it('certified sidecars reconnect with proof of their certificate after a control-plane restart', { timeout: 90_000 }, async () => {
    await waitFor(async () => {
      const rows = await mesh.getJson('proxies');
      return rows.filter((p) => p.certExpiry && (p.id === 'api-1' || p.id === 'web-1')).length === 2 ? true : undefined;
    }, 20_000, 'both sidecars to hold certificates');
    const refusalsBefore = (log().match(/ADS stream refused/g) ?? []).length;
    await mesh.killControl();
    await mesh.startControl({ args: ['--xds-auth', 'required'] });
    await waitFor(async () => {
      const rows = (await (await fetch(`${mesh.apiUrl}/api/v1/proxies`)).json()) as Record<string, any>[];
      const ids = rows.filter((p) => p.connected).map((p) => p.id as string).sort();
      return ids.join(',') === 'api-1,web-1' ? true : undefined;
    }, 40_000, 'both certified sidecars to reconnect');
    // reconnected is not yet resynced: web-1 must hold api-1's endpoint from the new control plane
    await mesh.waitInSync(20_000, 2);
    const web = mesh.pods.get('web-1')!;
    const reply = await mesh.request(web, 'api', '/again');
    assert.equal(reply.status, 200);
    // new refusals after the restart are only the two refused sidecars' retries, never api-1's or web-1's
    const after = log().split('\n').filter((l) => /ADS stream refused/.test(l)).slice(refusalsBefore);
    for (const line of after) assert.doesNotMatch(line, /svc\/(api|web)"|certificate proof refused/, line);
  });
});
