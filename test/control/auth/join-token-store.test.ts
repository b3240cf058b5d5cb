import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdminToken } from '../../../src/control/auth/admin-token.js';
import { JOIN_TOKENS_FILE_NAME, JoinTokenStore } from '../../../src/control/auth/join-token-store.js';

describe('JoinTokenStore', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-tokens-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('stores only a hash, 0600; the token authenticates for its service until it expires or is revoked', async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = await JoinTokenStore.open(dir, () => now);
    const { token, info } = await store.create({ service: 'api', namespace: 'shop', ttlMs: 60_000 });
    assert.match(token, /^trellis-join\.[0-9a-f]{12}\./);
    const file = path.join(dir, JOIN_TOKENS_FILE_NAME);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const secret = token.split('.')[2];
    assert.ok(!(await readFile(file, 'utf8')).includes(secret), 'the secret is not stored');

    const ok = store.authenticate(token);
    assert.ok(ok.ok && ok.token.service === 'api' && ok.token.namespace === 'shop');
    assert.deepEqual(store.authenticate(token.slice(0, -2) + 'xx'), { ok: false, reason: 'unknown', message: 'the join token is not valid' });
    assert.equal((store.authenticate('hello') as { reason: string }).reason, 'malformed');

    // a restart keeps it (hashed)
    const reopened = await JoinTokenStore.open(dir, () => now);
    assert.ok(reopened.authenticate(token).ok);
    now += 60_000;
    assert.equal((reopened.authenticate(token) as { reason: string }).reason, 'expired');

    now -= 30_000;
    assert.equal((await reopened.revoke(info.id))?.id, info.id);
    const revoked = reopened.authenticate(token);
    assert.ok(!revoked.ok && revoked.reason === 'revoked' && revoked.message.includes(info.id));
    assert.equal(await reopened.revoke('000000000000'), undefined);
    assert.deepEqual(reopened.list().map((t) => [t.id, t.service, t.revokedAt !== null]), [[info.id, 'api', true]]);
    assert.ok(!JSON.stringify(reopened.list()).includes(secret));
  });
});

describe('JoinTokenStore writes', () => {
  it('keeps every token of concurrent creates across a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'trellis-tokens-'));
    try {
      const store = await JoinTokenStore.open(dir);
      const created = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((service) => store.create({ service, namespace: 'default', ttlMs: 60_000 })));
      const reopened = await JoinTokenStore.open(dir);
      assert.deepEqual(created.map((c) => reopened.authenticate(c.token).ok), [true, true, true, true, true]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('AdminToken', () => {
  it('is created once (readable copy 0600), then only checked against its hash', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'trellis-admin-'));
    try {
      const first = await AdminToken.ensure(dir);
      assert.ok(first.created);
      assert.equal((await stat(first.file)).mode & 0o777, 0o600);
      assert.equal((await readFile(first.file, 'utf8')).trim(), first.created);
      const second = await AdminToken.ensure(dir);
      assert.equal(second.created, null);
      assert.equal(second.admin.matches(first.created!), true);
      assert.equal(second.admin.matches(first.created! + 'x'), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
