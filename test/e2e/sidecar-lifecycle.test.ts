import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

describe('sidecar lifecycle', () => {
  const mesh = new Mesh('127.0.55');
  let client: Pod;
  let backend: Pod;

  before(async () => {
    // a grace long enough to see the draining state on a busy machine (each `trellis get` is a process)
    await mesh.startControl({ grace: '8s' });
    // declared, so the service outlives its last instance
    assert.equal((await mesh.apply('apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: slow }\n')).code, 0);
    client = await mesh.addPod('client-1', 'client');
    backend = await mesh.addPod('slow-1', 'slow');
    await mesh.waitInSync(15_000, 2);
  });
  after(() => mesh.close());

  it('is live at once and ready with its config; the config dump names its version', async () => {
    const live = await fetch(`http://${client.address}:15000/live`);
    assert.equal(live.status, 200);
    const dump = (await (await fetch(`http://${client.address}:15000/config_dump`)).json()) as Record<string, any>;
    const proxies = await mesh.getJson('proxies');
    assert.equal(dump.version, proxies.find((p) => p.id === 'client-1')!.ackedVersion);
    assert.ok(dump.listeners.some((l: any) => l.name === 'outbound' && l.port === 15001));
  });

  it('on SIGTERM lets the in-flight request finish, then exits 0', { timeout: 60_000 }, async () => {
    const inFlight = mesh.request(client, 'slow', '/slow/700');
    // the request reaches the backend's app before the backend's sidecar is told to stop
    await new Promise((r) => setTimeout(r, 200));
    const exited = backend.sidecar!.exited;
    backend.sidecar!.child.kill('SIGTERM');
    const r = await inFlight;
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).path, '/slow/700');
    assert.equal(await exited, 0);
    // the control plane shows the endpoint draining for its grace period, then drops it
    const draining = await waitFor(async () => (await mesh.getJson('endpoints')).find((e) => e.service === 'slow' && e.state === 'draining'), 5_000, 'the endpoint to drain');
    assert.equal(draining.address, backend.address);
    await waitFor(async () => !(await mesh.getJson('endpoints')).some((e) => e.service === 'slow'), 25_000, 'the endpoint to be dropped after the grace period');
  });

  it('answers 503 no-healthy-upstream, not a hang, when a declared service has no instance left', async () => {
    await mesh.waitInSync();
    const r = await mesh.request(client, 'slow', '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-trellis-error'], 'no-healthy-upstream');
  });
});
