import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry, REGISTRY_FILE_NAME } from '../../src/control/registry.js';
import { ManualClock, nodeInfo, withTempDir } from './helpers.js';

describe('Registry', () => {
  it('registers an instance with its registered name as the app label', () => {
    const registry = new Registry({ clock: new ManualClock() });
    let changes = 0;
    registry.onChange(() => changes++);
    registry.connect(nodeInfo({ service: 'api', labels: { version: 'v1', app: 'spoofed' } }));
    const [inst] = registry.list();
    assert.equal(inst.proxyId, 'api-127.0.1.1');
    assert.deepEqual(inst.labels, { version: 'v1', app: 'api' });
    assert.equal(inst.state, 'connected');
    assert.equal(inst.connected, true);
    assert.equal(inst.connectedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(changes, 1);
  });

  it('keeps a disconnected instance as draining for the grace period, then drops it', () => {
    const clock = new ManualClock();
    const registry = new Registry({ clock, graceMs: 10_000 });
    const session = registry.connect(nodeInfo());
    clock.advance(5000);
    registry.disconnect('api-127.0.1.1', session);
    const inst = registry.get('api-127.0.1.1');
    assert.equal(inst?.state, 'draining');
    assert.equal(inst?.connected, false);
    assert.equal(inst?.disconnectedAt, '2026-01-01T00:00:05.000Z');
    clock.advance(9999);
    assert.ok(registry.get('api-127.0.1.1'));
    clock.advance(1);
    assert.equal(registry.get('api-127.0.1.1'), undefined);
  });

  it('does not flap on a quick reconnect', () => {
    const clock = new ManualClock();
    const registry = new Registry({ clock, graceMs: 10_000 });
    const first = registry.connect(nodeInfo());
    registry.disconnect('api-127.0.1.1', first);
    clock.advance(2000);
    registry.connect(nodeInfo());
    clock.advance(60_000);
    assert.equal(registry.get('api-127.0.1.1')?.state, 'connected');
  });

  it('ignores the end of a stream that a newer one replaced', () => {
    const clock = new ManualClock();
    const registry = new Registry({ clock });
    const old = registry.connect(nodeInfo());
    registry.connect(nodeInfo());
    registry.disconnect('api-127.0.1.1', old);
    assert.equal(registry.get('api-127.0.1.1')?.state, 'connected');
  });

  it('records xDS status without signalling a change', () => {
    const registry = new Registry({ clock: new ManualClock() });
    registry.connect(nodeInfo());
    let changes = 0;
    registry.onChange(() => changes++);
    registry.updateStatus('api-127.0.1.1', { ackedVersion: '3', lastNack: { version: '4', error: 'bad', typeUrl: 't' } });
    assert.equal(registry.get('api-127.0.1.1')?.ackedVersion, '3');
    assert.equal(changes, 0);
  });

  it('persists instances so a restarted control plane knows them until they reconnect or the grace ends', () => withTempDir(async (dir) => {
    const clock = new ManualClock();
    const before = new Registry({ dataDir: dir, clock, graceMs: 10_000 });
    before.connect(nodeInfo({ service: 'api', address: '127.0.1.1' }));
    before.connect(nodeInfo({ service: 'web', address: '127.0.1.2' }));
    const s3 = before.connect(nodeInfo({ service: 'db', address: '127.0.1.3' }));
    before.disconnect('db-127.0.1.3', s3);
    await before.close();

    const clock2 = new ManualClock();
    clock2.advance(3_600_000); // the restart happens much later than the grace period
    const after = new Registry({ dataDir: dir, clock: clock2, graceMs: 10_000 });
    await after.load();
    assert.deepEqual(after.list().map((i) => [i.proxyId, i.state, i.connected]), [
      ['api-127.0.1.1', 'restored', false],
      ['db-127.0.1.3', 'draining', false],
      ['web-127.0.1.2', 'restored', false],
    ]);
    clock2.advance(5000);
    after.connect(nodeInfo({ service: 'web', address: '127.0.1.2' }));
    clock2.advance(5000);
    assert.deepEqual(after.list().map((i) => [i.proxyId, i.state]), [['web-127.0.1.2', 'connected']]);
    await after.close();
  }));

  it('writes changes after a short delay, coalesced', () => withTempDir(async (dir) => {
    const registry = new Registry({ dataDir: dir, clock: new ManualClock(), persistDelayMs: 10 });
    registry.connect(nodeInfo({ address: '127.0.1.1' }));
    registry.connect(nodeInfo({ address: '127.0.1.2' }));
    await registry.flush();
    const saved = JSON.parse(await readFile(path.join(dir, REGISTRY_FILE_NAME), 'utf8'));
    assert.deepEqual(saved.instances.map((i: { proxyId: string }) => i.proxyId), ['api-127.0.1.1', 'api-127.0.1.2']);
    await registry.close();
  }));

  it('refuses to start on a corrupt registry file, naming it', () => withTempDir(async (dir) => {
    const file = path.join(dir, REGISTRY_FILE_NAME);
    await writeFile(file, '{"format":"trellis-registry/1","instan');
    await assert.rejects(new Registry({ dataDir: dir }).load(), (err: Error) => err.message.includes(file));
  }));
});
