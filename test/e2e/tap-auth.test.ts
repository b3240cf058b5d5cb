// Who may tap, end to end: a read token or the admin token through the control plane (in the
// default auth mode, where other reads are open), never without one, never after revocation; a
// read token never writes; a sidecar's admin /tap refuses anyone but the control plane.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

const net = '127.0.90';
let mesh: Mesh;
let web: Pod;
let api: Pod;
let readToken: { id: string; token: string; kind: string; name: string; expiresAt: string };

before(async () => {
  mesh = new Mesh(net, 100);
  await mesh.startControl();
  web = await mesh.addPod('web-1', 'web');
  api = await mesh.addPod('api-1', 'api');
  await waitFor(async () => (await mesh.request(web, 'api', '/warm')).status === 200, 15_000, 'web to reach api');
});

after(async () => {
  await mesh?.close();
});

/** Sends requests from web to api until `done` settles; bounded. */
async function trafficUntil(done: Promise<unknown>, path = '/t', limitMs = 20_000): Promise<void> {
  let finished = false;
  void done.finally(() => (finished = true));
  const deadline = Date.now() + limitMs;
  while (!finished && Date.now() < deadline) {
    await mesh.request(web, 'api', path);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('token create --read: -o json gives the token once; bad flags are refused naming the flag', async () => {
  const r = await mesh.cli(['token', 'create', '--read', '--name', 'ci', '--ttl', '2h', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  readToken = JSON.parse(r.stdout);
  assert.equal(readToken.kind, 'read');
  assert.equal(readToken.name, 'ci');
  assert.match(readToken.token, /^trellis-read\.[0-9a-f]{12}\./);
  const ttl = Date.parse(readToken.expiresAt) - Date.now();
  assert.ok(ttl > 1.9 * 3_600_000 && ttl <= 2 * 3_600_000, `expires in 2h, got ${ttl} ms`);

  const badTtl = await mesh.cli(['token', 'create', '--read', '--ttl', '5x']);
  assert.notEqual(badTtl.code, 0);
  assert.match(badTtl.stderr, /--ttl: "5x" is not a duration/);
  const shortTtl = await mesh.cli(['token', 'create', '--read', '--ttl', '10s']);
  assert.notEqual(shortTtl.code, 0);
  assert.match(shortTtl.stderr, /--ttl must be between 1m and 365d for a read token/);
  const neither = await mesh.cli(['token', 'create']);
  assert.notEqual(neither.code, 0);
  assert.match(neither.stderr, /give --service NAME .* or --read/);
  const both = await mesh.cli(['token', 'create', '--read', '--service', 'api']);
  assert.match(both.stderr, /--service and --read do not go together/);
  const byReader = await mesh.cli(['token', 'create', '--read'], undefined, mesh.apiUrl, readToken.token);
  assert.notEqual(byReader.code, 0);
  assert.match(byReader.stderr, /403 read token .* can only read/);

  const list = await mesh.cli(['token', 'list', '-o', 'json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
  const row = rows.find((t) => t.id === readToken.id)!;
  assert.deepEqual([row.kind, row.name, row.scope, row.revokedAt], ['read', 'ci', 'read', null]);
  assert.ok(!list.stdout.includes(readToken.token.split('.')[2]), 'no secrets listed');
  const joins = JSON.parse((await mesh.cli(['token', 'list', '--kind', 'join', '-o', 'json'])).stdout) as Record<string, unknown>[];
  assert.ok(joins.every((t) => t.kind === 'join'));
  const table = await mesh.cli(['token', 'list']);
  assert.match(table.stdout, new RegExp(`${readToken.id}\\s+read\\s+read: ci\\s+valid`));
});

test('a read token taps (other reads open, tap not); no token 401; a read token cannot apply', async () => {
  const run = mesh.cli(['tap', 'api', '--max', '2', '-o', 'json'], undefined, mesh.apiUrl, readToken.token);
  await trafficUntil(run, '/by-reader');
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.length, 2);
  assert.ok(events.every((e) => e.type === 'request' && e.path === '/by-reader'));
  assert.equal(r.stderr.trim(), '', 'no sidecar refused the control plane\'s grant');

  const admin = mesh.cli(['tap', 'api', '--max', '1', '-o', 'json']);
  await trafficUntil(admin, '/by-admin');
  assert.equal((await admin).code, 0, (await admin).stderr);

  assert.equal((await fetch(`${mesh.apiUrl}/api/v1/services`)).status, 200, 'reads stay open in the default mode');
  const anonymous = await mesh.cli(['tap', 'api', '--max', '1'], undefined, mesh.apiUrl, null);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /401 tapping .* needs a token with read access/);

  const apply = await mesh.cli(['apply', '-f', '-'], 'apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: nope }\nspec: {}\n', mesh.apiUrl, readToken.token);
  assert.notEqual(apply.code, 0);
  assert.match(apply.stderr, /403 read token [0-9a-f]{12} can only read: API writes need the admin token/);
});

test('the sidecar\'s admin /tap refuses anyone but the control plane, and counts it', async () => {
  const direct = await fetch(`http://${api.address}:15000/tap?max=1`, { signal: AbortSignal.timeout(5000) });
  assert.equal(direct.status, 401);
  assert.match(await direct.text(), /Trellis-Tap <grant>/);
  assert.match(direct.headers.get('www-authenticate') ?? '', /^Trellis-Tap/);
  const withApiToken = await fetch(`http://${api.address}:15000/tap?max=1`, { headers: { authorization: `Bearer ${mesh.adminTokens.get(mesh.apiUrl)}` }, signal: AbortSignal.timeout(5000) });
  assert.equal(withApiToken.status, 401, 'an API token is no grant');
  await withApiToken.text();
  const forged = await fetch(`http://${api.address}:15000/tap?max=1`, { headers: { authorization: 'Trellis-Tap eyJ2IjoxfQ.AAAA' }, signal: AbortSignal.timeout(5000) });
  assert.equal(forged.status, 403);
  await forged.text();
  const metrics = await (await fetch(`http://${api.address}:15000/metrics`)).text();
  assert.match(metrics, /trellis_admin_tap_refused_total\{reason="missing-grant"\} 2/);
  assert.match(metrics, /trellis_admin_tap_refused_total\{reason="malformed"\} 1/);
  // /metrics, /ready and /config_dump stay open (Prometheus and describe read them)
  assert.equal((await fetch(`http://${api.address}:15000/ready`)).status, 200);
  assert.equal((await fetch(`http://${api.address}:15000/config_dump`)).status, 200);

  // and the control plane's own tap still gets through
  const run = mesh.cli(['tap', 'api', '--max', '1', '-o', 'json'], undefined, mesh.apiUrl, readToken.token);
  await trafficUntil(run, '/after-refusals');
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()).path, '/after-refusals');
});

test('token revoke (and its alias delete): a revoked read token is refused with 403 saying so', async () => {
  const revoke = await mesh.cli(['token', 'revoke', readToken.id, '-o', 'json']);
  assert.equal(revoke.code, 0, revoke.stderr);
  const revoked = JSON.parse(revoke.stdout);
  assert.equal(revoked.kind, 'read');
  assert.ok(revoked.revokedAt);
  const r = await mesh.cli(['tap', 'api', '--max', '1'], undefined, mesh.apiUrl, readToken.token);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`403 read token ${readToken.id} was revoked at`));
  const unknown = await mesh.cli(['token', 'delete', '000000000000']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no join or read token with id 000000000000/);
});
