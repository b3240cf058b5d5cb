// `trellis tap` end to end: a live line per request from the sidecars of a service and of its
// callers, filtered by path and status, ended by --max or by Ctrl-C; reads need the token when
// the API requires it for reads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { cliPath, Mesh, waitFor, type Pod } from './mesh-harness.js';

const net = '127.0.66';
const chromiumPath = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';
let mesh: Mesh;
let web: Pod;

before(async () => {
  mesh = new Mesh(net);
  // reads need the token here: tapping shows who calls whom
  await mesh.startControl({ args: ['--api-auth', 'reads'] });
  web = await mesh.addPod('web-1', 'web');
  const address = `${net}.40`;
  const app = http.createServer((req, res) => {
    req.resume();
    res.writeHead(req.url?.startsWith('/fail') ? 500 : 200, { 'content-type': 'text/plain' });
    res.end('api');
  });
  await new Promise<void>((resolve, reject) => app.once('error', reject).listen(8000, address, resolve));
  const api: Pod = { id: 'api-1', service: 'api', address, labels: {}, app };
  mesh.pods.set(api.id, api);
  await mesh.startSidecar(api);
  await waitFor(async () => (await mesh.request(web, 'api', '/warm')).status === 200, 15_000, 'web to reach api');
});

after(async () => {
  await mesh?.close();
});

/** Sends requests from web to api (cycling through `paths`) until `done` resolves; bounded. */
async function trafficUntil(done: Promise<unknown>, paths: string[], limitMs = 20_000): Promise<void> {
  let finished = false;
  void done.finally(() => (finished = true));
  const deadline = Date.now() + limitMs;
  for (let i = 0; !finished && Date.now() < deadline; i++) {
    await mesh.request(web, 'api', paths[i % paths.length]);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('tap: request lines from both sides, only the path asked for, ended after --max', async () => {
  const run = mesh.cli(['tap', 'api', '--path', '/items', '--max', '6', '-o', 'json']);
  await trafficUntil(run, ['/other', '/items/1', '/items/2?q=1']);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.length, 6);
  for (const e of events) {
    assert.equal(e.type, 'request');
    assert.ok(e.path.startsWith('/items/'), e.path);
    assert.equal(e.method, 'GET');
    assert.equal(e.status, 200);
    assert.equal(typeof e.latencyMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(e.time)));
  }
  const inbound = events.filter((e) => e.direction === 'inbound');
  const outbound = events.filter((e) => e.direction === 'outbound');
  assert.ok(inbound.length > 0 && outbound.length > 0, 'the callee\'s sidecar and the caller\'s sidecar both report');
  for (const e of inbound) {
    assert.equal(e.destination.service, 'api.default');
    assert.equal(e.proxy, 'api-1');
    assert.equal(e.upstream, `${net}.40:8000`);
  }
  for (const e of outbound) {
    assert.equal(e.source.service, 'web.default');
    assert.equal(e.destination.service, 'api.default');
    assert.equal(e.proxy, 'web-1');
    assert.equal(e.authority, 'api');
  }
});

test('tap: status filter, table-ish lines, and Ctrl-C ends it cleanly', async () => {
  const child = spawn(process.execPath, [cliPath, '--api', mesh.apiUrl, 'tap', 'api', '--status', '5xx'], {
    env: { ...process.env, TRELLIS_TOKEN: mesh.adminTokens.get(mesh.apiUrl) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await waitFor(async () => stderr.includes('tapping api'), 10_000, 'the tap to open');
    const sawTwo = waitFor(async () => stdout.trim().split('\n').filter((l) => l.includes('/fail')).length >= 2, 15_000, 'two failing requests');
    await trafficUntil(sawTwo, ['/ok', '/fail/a']);
    await sawTwo;
    const lines = stdout.trim().split('\n');
    for (const l of lines) assert.match(l, /\/fail\/a 500 [\d.]+ms/);
    assert.ok(lines.some((l) => /\bout web\.default -> api\.default GET api \/fail\/a 500/.test(l)), lines.join('\n'));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

test('tap: without the token the API refuses, like any read in reads mode', async () => {
  const res = await fetch(`${mesh.apiUrl}/api/v1/tap?service=api&max=1`);
  assert.equal(res.status, 401);
  const r = await mesh.cli(['tap', 'api', '--max', '1'], undefined, mesh.apiUrl, null);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /401/);
  const bad = await fetch(`${mesh.apiUrl}/api/v1/tap?service=api&status=abc`, { headers: { authorization: `Bearer ${mesh.adminTokens.get(mesh.apiUrl)}` } });
  assert.equal(bad.status, 400);
});

test('the dashboard\'s live tap: rows scroll in, pause holds them aside, resume shows them', {
  skip: existsSync(chromiumPath) ? false : `no Chromium at ${chromiumPath}`,
}, async () => {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'trellis-tap-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors: string[] = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${mesh.apiUrl}/#/tap`);
    // this control plane wants the token for reads, the tap included
    await page.fill('#api-token', mesh.adminTokens.get(mesh.apiUrl)!);
    await page.press('#api-token', 'Enter');
    await page.waitForSelector('[data-testid=tap-service] option[value=api]', { state: 'attached' });
    await page.selectOption('[data-testid=tap-service]', 'api');
    await page.fill('[data-testid=tap-path]', '/dash');
    await page.click('[data-testid=tap-start]');
    await page.waitForFunction(() => document.querySelector('[data-testid=tap-state]')?.textContent?.includes('Tapping api'));
    const rows = page.locator('[data-testid=tap-table] tbody tr');
    const seen = rows.first().waitFor({ timeout: 20_000 });
    await trafficUntil(seen, ['/other', '/dash/1']);
    await seen;
    const texts = await rows.allTextContents();
    assert.ok(texts.every((t) => t.includes('/dash/1') && !t.includes('/other')), texts.join('\n'));

    await page.click('[data-testid=tap-pause]');
    const before = await rows.count();
    const held = page.waitForFunction(() => /Resume \(\d+ held\)/.test(document.querySelector('[data-testid=tap-pause]')?.textContent ?? ''), undefined, { timeout: 20_000 });
    await trafficUntil(held, ['/dash/2']);
    await held;
    assert.equal(await rows.count(), before, 'paused: no new rows');
    await page.click('[data-testid=tap-pause]');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=tap-table] tbody tr').length > n, before);
    assert.ok((await rows.first().textContent())?.includes('/dash/2'));
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
