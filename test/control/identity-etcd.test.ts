// The identity state replicas share through a real etcd: one CA root however many replicas start
// at once, its key encrypted with the operator's passphrase, and join tokens created, checked and
// revoked across replicas.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { CertificateAuthority } from '../../src/control/ca/ca-authority.js';
import { fingerprint } from '../../src/control/ca/ca-crypto.js';
import { JoinTokenStore } from '../../src/control/auth/join-token-store.js';
import { openSharedIdentity, type SharedIdentity } from '../../src/control/identity-etcd.js';
import { EtcdStore } from '../../src/control/store/store-etcd.js';
import { EtcdCluster, etcdMissing } from './store/etcd-cluster.js';

const logger = pino({ level: 'silent' });

describe('identity state shared in etcd', { skip: etcdMissing, timeout: 90_000 }, () => {
  let cluster: EtcdCluster;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-identity-etcd-'));
  const opened: { store: EtcdStore; shared: SharedIdentity; tokens?: JoinTokenStore }[] = [];
  let n = 0;

  async function replica(prefix: string) {
    const store = await EtcdStore.open({ hosts: cluster.hosts, prefix });
    const shared = await openSharedIdentity({ client: store.client, prefix: store.prefix, logger });
    const r: { store: EtcdStore; shared: SharedIdentity; tokens?: JoinTokenStore } = { store, shared };
    opened.push(r);
    return r;
  }
  const caOf = (r: { shared: SharedIdentity }, passphrase?: string) =>
    CertificateAuthority.open({ dataDir: path.join(dir, `r${n++}`), shared: { root: r.shared.caRoot, trust: r.shared.trust, passphrase } });

  before(async () => {
    cluster = await EtcdCluster.start('127.0.83', 11);
  });
  after(async () => {
    for (const r of opened) {
      await r.tokens?.close();
      await r.shared.close();
      await r.store.close();
    }
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three replicas starting at once end with one root and one trust bundle', async () => {
    const rs = await Promise.all([1, 2, 3].map(() => replica('/t-root/')));
    const cas = await Promise.all(rs.map((r) => caOf(r)));
    const fps = await Promise.all(cas.map((ca) => fingerprint(ca.signingCertificate)));
    assert.equal(new Set(fps).size, 1, `roots: ${fps.join(', ')}`);
    for (const ca of cas) assert.deepEqual(ca.trustBundle.roots().map((r) => r.fingerprint), [fps[0]]);
    // a root added on one replica is served by the others
    const other = await caOf(await replica('/t-other/'));
    const added = await cas[0].trustBundle.add(other.trustBundle.pems()[0]);
    assert.equal(added.length, 1);
    await waitUntil(() => cas[2].trustBundle.roots().length === 2, 'the third replica to see the added root');
  });

  it('encrypts the root key with the passphrase; a replica without it, or with another, refuses to start', async () => {
    const first = await replica('/t-pass/');
    const ca = await caOf(first, 'correct horse battery staple');
    const stored = first.shared.caRoot.get('root')!;
    assert.equal(stored.encrypted, true);
    assert.match(stored.keyPem, /BEGIN ENCRYPTED PRIVATE KEY/);
    const again = await caOf(await replica('/t-pass/'), 'correct horse battery staple');
    assert.equal(again.signingCertificate.serialNumber, ca.signingCertificate.serialNumber);
    await assert.rejects(caOf(await replica('/t-pass/')), /the CA key in etcd is encrypted: start this replica with --ca-key-passphrase-file/);
    await assert.rejects(caOf(await replica('/t-pass/'), 'a wrong passphrase here'), /cannot read the CA key in etcd \(wrong passphrase\?\)/);
  });

  it('a join token created on one replica is valid on another at once; a revocation on either is refused by all at once', async () => {
    const a = await replica('/t-tokens/');
    const b = await replica('/t-tokens/');
    a.tokens = await JoinTokenStore.openEtcd({ client: a.store.client, prefix: a.store.prefix, logger });
    b.tokens = await JoinTokenStore.openEtcd({ client: b.store.client, prefix: b.store.prefix, logger });
    const { token, info } = await a.tokens.create({ service: 'api', namespace: 'default', ttlMs: 60_000 });
    const onB = await b.tokens.check(token);
    assert.ok(onB.ok, JSON.stringify(onB));
    assert.equal(onB.ok && onB.token.id, info.id);
    await b.tokens.revoke(info.id);
    const onA = await a.tokens.check(token);
    assert.deepEqual(onA.ok ? null : onA.reason, 'revoked');
    await waitUntil(() => a.tokens!.list().some((t) => t.id === info.id && t.revokedAt !== null), 'a to list the token as revoked');
    assert.ok(!a.tokens.authenticate(token).ok, 'the watched copy agrees');
  });
});

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
