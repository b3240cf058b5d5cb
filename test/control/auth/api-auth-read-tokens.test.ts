// Read tokens against a real control plane: they read (and tap) in every mode, never write; the
// tap needs a token even where other reads are open.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startControlPlane } from '../../../src/control/main.js';

const host = '127.0.90.250';
const svc = 'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: db }\nspec: {}\n';

async function call(base: string, method: string, p: string, token?: string, body?: string): Promise<{ status: number; text: string; json: any }> {
  const res = await fetch(base + p, { method, body, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  // a tap streams: read its first line only
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  await reader.cancel();
  const text = Buffer.from(value ?? []).toString('utf8').split('\n')[0];
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

describe('API read tokens', () => {
  it('read in both modes, tap everywhere, never write; tap without a token 401, with a bad or revoked one 403', { timeout: 40_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'trellis-read-auth-'));
    try {
      for (const apiAuth of ['writes', 'reads'] as const) {
        const cp = await startControlPlane({ dataDir: dir, listen: host, xdsPort: 0, apiPort: 0, logLevel: 'silent', apiAuth, announce: () => undefined });
        try {
          const base = `http://${host}:${cp.apiPort}`;
          const admin = (await readFile(cp.adminTokenFile, 'utf8')).trim();
          assert.equal((await call(base, 'POST', '/api/v1/read-tokens', undefined, '{}')).status, 401, 'making read tokens is admin business');
          const created = await call(base, 'POST', '/api/v1/read-tokens', admin, JSON.stringify({ name: `ci-${apiAuth}`, ttlMs: 3_600_000 }));
          assert.equal(created.status, 201, created.text);
          const read: string = created.json.token;
          assert.match(read, /^trellis-read\./);

          const tap = '/api/v1/tap?service=api&max=1';
          const none = await call(base, 'GET', tap);
          assert.equal(none.status, 401, `${apiAuth}: a tap without a token`);
          assert.match(none.json.error, /tapping .* needs a token with read access.*trellis token create --read/);
          for (const token of [read, admin]) {
            const open = await call(base, 'GET', tap, token);
            assert.equal(open.status, 200);
            assert.equal(open.json.type, 'open');
          }
          const bogus = await call(base, 'GET', tap, 'trellis-read.000000000000.AAAAAAAAAAAAAAAAAAAAAAAA');
          assert.equal(bogus.status, 403);
          assert.match(bogus.json.error, /neither the admin token nor a valid read token/);

          // other reads keep their mode: open with writes, a token with reads (a read token will do)
          assert.equal((await call(base, 'GET', '/api/v1/services')).status, apiAuth === 'writes' ? 200 : 401);
          assert.equal((await call(base, 'GET', '/api/v1/services', read)).status, 200);
          // a read token never writes, nor sees the tokens
          const write = await call(base, 'POST', '/api/v1/resources', read, svc);
          assert.equal(write.status, 403);
          assert.match(write.json.error, /read token [0-9a-f]{12} can only read: API writes need the admin token/);
          assert.equal((await call(base, 'DELETE', `/api/v1/read-tokens/${created.json.id}`, read)).status, 403);
          assert.equal((await call(base, 'GET', '/api/v1/tokens', read)).status, 403);

          const bad = await call(base, 'POST', '/api/v1/read-tokens', admin, JSON.stringify({ ttlMs: 5 }));
          assert.equal(bad.status, 400);
          assert.match(bad.json.error, /"ttlMs" must be an integer between 60000/);

          assert.equal((await call(base, 'DELETE', `/api/v1/read-tokens/${created.json.id}`, admin)).status, 200);
          const revoked = await call(base, 'GET', tap, read);
          assert.equal(revoked.status, 403);
          assert.match(revoked.json.error, new RegExp(`read token ${created.json.id} was revoked`));
          assert.equal((await call(base, 'GET', '/api/v1/services', read)).status, apiAuth === 'writes' ? 200 : 403);
        } finally {
          await cp.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
