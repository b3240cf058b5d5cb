import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startControlPlane } from '../../../src/control/main.js';

const host = '127.0.13.20';
const svc = 'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: db }\nspec: {}\n';

async function call(base: string, method: string, p: string, token?: string, body?: string): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(base + p, { method, body, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

describe('API authorization', () => {
  it('writes need the admin token: none 401, a wrong one 403, the right one accepted; reads stay open on loopback', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'trellis-auth-'));
    const announced: string[] = [];
    const cp = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent', announce: (l) => announced.push(l) });
    try {
      const base = `http://${host}:${cp.apiPort}`;
      const admin = (await readFile(cp.adminTokenFile, 'utf8')).trim();
      assert.equal(announced.length, 1);
      assert.ok(announced[0].includes(admin), 'the new token is printed once');

      const none = await call(base, 'POST', '/api/v1/resources', undefined, svc);
      assert.equal(none.status, 401);
      assert.match(none.json.error, /admin token/);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      const wrong = await call(base, 'POST', '/api/v1/resources', 'trellis-admin.nope', svc);
      assert.equal(wrong.status, 403);
      assert.match(wrong.json.error, /not the admin token/);
      assert.equal((await call(base, 'DELETE', '/api/v1/resources/service/default/db')).status, 401);
      assert.equal((await call(base, 'GET', '/api/v1/resources')).json.length, 0, 'nothing was stored');

      assert.equal((await call(base, 'POST', '/api/v1/resources', admin, svc)).status, 200);
      assert.equal((await call(base, 'GET', '/api/v1/services')).status, 200, 'reads are open');
      assert.equal((await call(base, 'DELETE', '/api/v1/resources/service/default/db', admin)).status, 200);

      // join tokens are admin business, even to list
      assert.equal((await call(base, 'GET', '/api/v1/tokens')).status, 401);
      const created = await call(base, 'POST', '/api/v1/tokens', admin, JSON.stringify({ service: 'api' }));
      assert.equal(created.status, 201);
      assert.equal((await call(base, 'GET', '/api/v1/tokens', admin)).json[0].id, created.json.id);
      assert.equal((await call(base, 'DELETE', `/api/v1/tokens/${created.json.id}`, 'bad')).status, 403);
    } finally {
      await cp.close();
    }

    // a restart does not make a new token; with --api-auth reads, reads need it too (but health does not)
    const again = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent', apiAuth: 'reads', announce: (l) => announced.push(l) });
    try {
      const base = `http://${host}:${again.apiPort}`;
      const admin = (await readFile(again.adminTokenFile, 'utf8')).trim();
      assert.equal(announced.length, 1);
      assert.equal((await call(base, 'GET', '/api/v1/services')).status, 401);
      assert.equal((await call(base, 'GET', '/api/v1/services', 'x')).status, 403);
      assert.equal((await call(base, 'GET', '/api/v1/services', admin)).status, 200);
      assert.equal((await call(base, 'GET', '/api/v1/health')).status, 200);
    } finally {
      await again.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
