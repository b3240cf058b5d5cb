import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { READ_TOKENS_FILE_NAME, ReadTokenStore } from '../../../src/control/auth/read-token-store.js';

describe('ReadTokenStore', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-read-tokens-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('stores only a hash, 0600; the token checks until it expires or is revoked, across restarts', async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = await ReadTokenStore.open(dir, () => now);
    const { token, info } = await store.create({ name: 'grafana', ttlMs: 60_000 });
    assert.match(token, /^trellis-read\.[0-9a-f]{12}\./);
    assert.ok(ReadTokenStore.looksLikeReadToken(token));
    assert.deepEqual({ name: info.name, scope: info.scope, revokedAt: info.revokedAt }, { name: 'grafana', scope: 'read', revokedAt: null });
    const file = path.join(dir, READ_TOKENS_FILE_NAME);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(!(await readFile(file, 'utf8')).includes(token.split('.')[2]), 'the secret is not stored');

    assert.ok((await store.check(token)).ok);
    assert.equal(((await store.check(token.slice(0, -2) + 'xx')) as { reason: string }).reason, 'unknown');
    const malformed = await store.check('trellis-read.nope');
    assert.ok(!malformed.ok && malformed.reason === 'malformed' && /trellis token create --read/.test(malformed.message));

    const reopened = await ReadTokenStore.open(dir, () => now);
    assert.ok((await reopened.check(token)).ok, 'a restart keeps it');
    assert.deepEqual(reopened.list().map((t) => t.id), [info.id]);
    now += 60_000;
    const expired = await reopened.check(token);
    assert.ok(!expired.ok && expired.reason === 'expired' && expired.message.includes(info.id));

    now -= 30_000;
    assert.equal((await reopened.revoke(info.id))?.id, info.id);
    const revoked = await reopened.check(token);
    assert.ok(!revoked.ok && revoked.reason === 'revoked' && revoked.message.includes(info.id));
    assert.equal(await reopened.revoke('000000000000'), undefined);
    await reopened.close();
    await store.close();
    assert.ok(!(await (await ReadTokenStore.open(dir, () => now)).check(token)).ok, 'the revocation was stored');
  });

  it('refuses to start on a corrupt file, naming it', async () => {
    const bad = await mkdtemp(path.join(tmpdir(), 'trellis-read-tokens-bad-'));
    try {
      const file = path.join(bad, READ_TOKENS_FILE_NAME);
      await writeFile(file, '{"format":"trellis-read-tokens/1","tokens":[{"id":1}]}');
      await assert.rejects(ReadTokenStore.open(bad), (err: Error) => err.message.includes(file) && /read token/.test(err.message));
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});
