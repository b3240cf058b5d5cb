import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/log.js';
import { JoinTokenStore } from '../../../src/control/auth/join-token-store.js';
import { bearerToken } from '../../../src/control/auth/token-secret.js';
import { CertificateAuthority } from '../../../src/control/ca/ca-authority.js';
import { WorkloadIssuer } from '../../../src/control/ca/workload-issuer.js';
import { IDENTITY_FILE_NAME } from '../../../src/proxy/identity/identity-state.js';
import { renewalTime, WorkloadIdentity, type CertificatePost, type IdentityClock } from '../../../src/proxy/identity/workload-identity.js';

/** Time stands still until the test moves it; due timers then fire in order. */
class ManualClock implements IdentityClock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  constructor(public t: number) {}
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  pending(): number[] {
    return this.timers.map((x) => x.at);
  }
  /** Fires every timer due by `t`, letting `identity` finish the request each one starts. */
  async advanceTo(t: number, identity: WorkloadIdentity): Promise<void> {
    for (;;) {
      const due = this.timers.filter((x) => x.at <= t).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await identity.settled();
    }
    this.t = t;
  }
}

const hour = 3_600_000;
const logger = createLogger('test', 'silent');

describe('WorkloadIdentity', () => {
  let dir = '';
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 8, 0, 0));
  let tokens: JoinTokenStore;
  let issuer: WorkloadIssuer;
  let calls = 0;
  let failNext = 0;
  const post: CertificatePost = async (_url, body, headers) => {
    calls++;
    if (failNext > 0) {
      failNext--;
      throw new Error('connect ECONNREFUSED');
    }
    const out = await issuer.request(JSON.parse(body), bearerToken(headers.authorization));
    return out.status === 200 ? { status: 200, body: out.body } : { status: out.status, body: { error: out.error } };
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-identity-'));
    const ca = await CertificateAuthority.open({ dataDir: path.join(dir, 'control'), now: clock.now });
    tokens = await JoinTokenStore.open(path.join(dir, 'control'), clock.now);
    issuer = new WorkloadIssuer({ ca, tokens, dataDir: path.join(dir, 'control'), trustDomain: () => 'cluster.local', ttlMs: hour, logger, now: clock.now });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('obtains a certificate with its token, saves it 0600, and rotates at two thirds of its life with the current certificate', async () => {
    // the token expires before the first renewal: renewals must not need it
    const { token, info } = await tokens.create({ service: 'api', namespace: 'default', ttlMs: 30 * 60_000 });
    const stateDir = path.join(dir, 'state-api');
    const id = new WorkloadIdentity({ apiUrls: ['http://unused'], token, proxyId: 'api-1', service: 'api', namespace: 'default', stateDir, logger, clock, post });
    const seen: string[] = [];
    id.onChange((m) => seen.push(m.serial));
    await id.start();
    const first = id.current()!;
    assert.equal(first.spiffeId, 'spiffe://cluster.local/ns/default/svc/api');
    assert.ok(first.keyPem.includes('PRIVATE KEY'));
    assert.equal((await stat(path.join(stateDir, IDENTITY_FILE_NAME))).mode & 0o777, 0o600);
    assert.ok((await readFile(path.join(stateDir, IDENTITY_FILE_NAME), 'utf8')).includes(JSON.stringify(first.certificatePem)));

    const renewAt = renewalTime(first.notBefore, first.notAfter);
    const life = first.notAfter.getTime() - first.notBefore.getTime();
    assert.equal(renewAt - first.notBefore.getTime(), Math.floor(life * 2 / 3));
    assert.deepEqual(clock.pending(), [renewAt], 'exactly one timer: the renewal');

    await clock.advanceTo(renewAt - 1000, id);
    assert.equal(id.current()!.serial, first.serial, 'not renewed before two thirds');
    assert.equal(tokens.authenticate(token).ok, false, 'the join token has expired');
    await clock.advanceTo(renewAt, id);
    const second = id.current()!;
    assert.notEqual(second.serial, first.serial, 'renewed at two thirds');
    assert.notEqual(second.keyPem, first.keyPem, 'with a new key');
    assert.deepEqual(seen, [first.serial, second.serial]);
    assert.deepEqual(clock.pending(), [renewalTime(second.notBefore, second.notAfter)]);

    // a restart within the certificate's life restores it without asking
    const before = calls;
    const restarted = new WorkloadIdentity({ apiUrls: ['http://unused'], proxyId: 'api-1', service: 'api', namespace: 'default', stateDir, logger, clock: new ManualClock(clock.t), post });
    await restarted.start();
    assert.equal(restarted.current()!.serial, second.serial);
    assert.equal(calls, before);
    restarted.close();

    // revoking the token that admitted it stops the renewals; the held certificate stays until it expires
    await tokens.revoke(info.id);
    await clock.advanceTo(renewalTime(second.notBefore, second.notAfter), id);
    assert.equal(id.current()!.serial, second.serial);
    assert.match(String(id.describe().lastError), /revoked/);
    id.close();
    assert.deepEqual(clock.pending(), []);
  });

  it('retries with backoff while the control plane is unreachable, then gets its certificate', async () => {
    const { token } = await tokens.create({ service: 'web', namespace: 'default', ttlMs: hour });
    const c = new ManualClock(clock.t);
    const id = new WorkloadIdentity({ apiUrls: ['http://unused'], token, proxyId: 'web-1', service: 'web', namespace: 'default', logger, clock: c, post, retryMinMs: 1000, retryMaxMs: 4000 });
    failNext = 3;
    await id.start();
    assert.equal(id.current(), null);
    assert.deepEqual(c.pending(), [c.t + 1000]);
    await c.advanceTo(c.t + 1000, id);
    assert.deepEqual(c.pending(), [c.t + 2000], 'doubled');
    await c.advanceTo(c.t + 2000, id);
    assert.deepEqual(c.pending(), [c.t + 4000]);
    await c.advanceTo(c.t + 4000, id);
    assert.equal(id.current()?.spiffeId, 'spiffe://cluster.local/ns/default/svc/web');
    id.close();
  });

  it('a token of another service gets nothing', async () => {
    const { token } = await tokens.create({ service: 'web', namespace: 'default', ttlMs: hour });
    const c = new ManualClock(clock.t);
    const id = new WorkloadIdentity({ apiUrls: ['http://unused'], token, proxyId: 'db-1', service: 'db', namespace: 'default', logger, clock: c, post });
    await id.start();
    assert.equal(id.current(), null);
    assert.match(String(id.describe().lastError), /403 .*is for service "web"/);
    id.close();
  });
});
