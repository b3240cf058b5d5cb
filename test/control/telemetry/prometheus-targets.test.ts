import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Registry } from '../../../src/control/registry.js';
import { PrometheusTargets } from '../../../src/control/telemetry/prometheus-targets.js';
import { createLogger } from '../../../src/common/log.js';
import { ManualClock, nodeInfo, withTempDir } from '../helpers.js';

test('the targets file follows proxies as they connect and disconnect', async () => {
  await withTempDir(async (dir) => {
    const registry = new Registry({ clock: new ManualClock() });
    const targets = new PrometheusTargets({ registry, dataDir: dir, logger: createLogger('test', 'silent') });
    await targets.start();
    const file = path.join(dir, 'prometheus', 'targets.json');
    assert.equal(targets.file, file);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), []);

    const session = registry.connect(nodeInfo({ service: 'api', address: '127.0.12.80', id: 'api-1', zone: 'z2' }));
    registry.connect(nodeInfo({ service: 'web', address: '127.0.12.81', id: 'web-1', namespace: 'shop' }));
    await targets.write();
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), [
      { targets: ['127.0.12.80:15000'], labels: { service: 'api', namespace: 'default', proxy_id: 'api-1', zone: 'z2' } },
      { targets: ['127.0.12.81:15000'], labels: { service: 'web', namespace: 'shop', proxy_id: 'web-1', zone: 'z1' } },
    ]);

    registry.disconnect('api-1', session);
    await targets.write();
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')).map((g: { labels: { proxy_id: string } }) => g.labels.proxy_id), ['web-1']);
    await targets.close();
    await registry.close();
  });
});
