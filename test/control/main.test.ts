import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startControlPlane } from '../../src/control/main.js';
import { STORE_FILE_NAME } from '../../src/control/store/store-file.js';
import { unpackAny } from '../../src/xds/any.js';
import { encodeNode } from '../../src/xds/node.js';
import { typeUrls } from '../../src/xds/type-urls.js';
import { AdsTestClient, loopback, nodeInfo, withTempDir, withTimeout } from './helpers.js';

const host = loopback(3);
const db = `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db }
spec: {}
`;

async function apply(cp: { apiPort: number; adminTokenFile: string }, yaml: string): Promise<void> {
  const authorization = `Bearer ${(await readFile(cp.adminTokenFile, 'utf8')).trim()}`;
  const res = await fetch(`http://${host}:${cp.apiPort}/api/v1/resources`, { method: 'POST', body: yaml, headers: { authorization }, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, await res.text());
}

describe('startControlPlane', () => {
  it('pushes applied resources, closes streams cleanly, and after a restart still knows resources and instances', { timeout: 60_000 }, () => withTempDir(async (dir) => {
    const cp = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, graceMs: 30_000, logLevel: 'silent' });
    const api = nodeInfo({ service: 'api', address: '127.0.1.50' });
    const client = new AdsTestClient(`${host}:${cp.xdsPort}`);
    let lastVersion = '';
    try {
      client.send({ node: encodeNode(api), type_url: typeUrls.cluster });
      const first = await client.next();
      client.send({ type_url: typeUrls.cluster, version_info: first.version_info, response_nonce: first.nonce });
      await apply(cp, db);
      const pushed = await client.next();
      assert.notEqual(pushed.version_info, first.version_info, 'new content, new version');
      assert.ok(pushed.resources.some((a) => (unpackAny(a) as { name: string }).name === 'db.default'));
      lastVersion = pushed.version_info;
      await cp.close();
      const ended = await withTimeout(client.ended, 5000, 'the stream to end');
      assert.equal(ended, null, 'the server ends streams with status OK');
    } finally {
      client.close();
      await cp.close();
    }

    // a sidecar connecting to the restarted control plane sees the instance that has not reconnected yet
    const again = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, graceMs: 30_000, logLevel: 'silent' });
    const web = new AdsTestClient(`${host}:${again.xdsPort}`);
    let back: AdsTestClient | undefined;
    try {
      const proxies = await (await fetch(`http://${host}:${again.apiPort}/api/v1/proxies`)).json() as { id: string; state: string; connected: boolean }[];
      assert.deepEqual(proxies.map((p) => [p.id, p.state, p.connected]), [[api.id, 'restored', false]]);
      // versions are content digests: the restarted control plane gives the same content the same
      // version, and a returning sidecar that quotes it is not sent it again
      // (it stays connected: its endpoint is checked as healthy below)
      back = new AdsTestClient(`${host}:${again.xdsPort}`);
      {
        back.send({ node: encodeNode(api), type_url: typeUrls.cluster, version_info: lastVersion });
        back.send({ type_url: typeUrls.listener, version_info: '' });
        const answered = await back.next();
        assert.equal(answered.type_url, typeUrls.listener, 'the clusters it holds are not sent again');
        back.send({ type_url: typeUrls.cluster, version_info: '', response_nonce: '' });
        const resent = await back.next();
        assert.equal(resent.type_url, typeUrls.cluster);
        assert.equal(resent.version_info, lastVersion, 'same content, same version after a restart');
      }
      web.send({ node: encodeNode(nodeInfo({ service: 'web', address: '127.0.1.51' })), type_url: typeUrls.clusterLoadAssignment, resource_names: ['api.default', 'db.default'] });
      const eds = await web.next();
      const byName = new Map(eds.resources.map((a) => {
        const cla = unpackAny(a) as any;
        return [cla.cluster_name as string, cla];
      }));
      assert.deepEqual([...byName.keys()], ['api.default', 'db.default'], 'the db Service survived the restart');
      const lb = byName.get('api.default').endpoints[0].lb_endpoints[0];
      assert.equal(lb.endpoint.address.socket_address.address, '127.0.1.50');
      assert.equal(lb.health_status, 'HEALTHY');

    } finally {
      web.close();
      back?.close();
      await again.close();
    }
  }));

  it('refuses to start on a corrupt store file, naming it', () => withTempDir(async (dir) => {
    await writeFile(path.join(dir, STORE_FILE_NAME), 'not json');
    await assert.rejects(startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent' }), (err: Error) => err.message.includes(path.join(dir, STORE_FILE_NAME)));
  }));

  it('refuses to start when a port is taken, and releases what it opened', () => withTempDir(async (dir) => {
    const first = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent' });
    try {
      await assert.rejects(startControlPlane({ dataDir: path.join(dir, 'other'), listen: host, xdsPort: 0, apiPort: first.apiPort, logLevel: 'silent' }), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  }));
});
