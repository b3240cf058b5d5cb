import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { cliPath, waitFor } from './mesh-harness.js';

function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

// The README's first command runs this; it owns 127.0.0.1:8080/15000/15010/15080 and 127.0.1.x.
describe('trellis demo', () => {
  it('brings up the shop, serves through the ingress, and stops cleanly on Ctrl-C', async () => {
    const child = spawn(process.execPath, [cliPath, 'demo', '--rps', '5'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => out.includes('demo mesh is up') || (out.includes('failed') ? Promise.reject(new Error(out)) : false), 60_000, 'the demo to start');
      const versions: Record<string, number> = {};
      for (let i = 0; i < 40; i++) {
        const r = await get('127.0.0.1', 8080, '/');
        assert.equal(r.status, 200, r.body);
        const body = JSON.parse(r.body);
        assert.equal(body.service, 'web');
        assert.equal(body.api.inventory.service, 'inventory');
        versions[body.api.version] = (versions[body.api.version] ?? 0) + 1;
      }
      assert.ok(versions.v1 > versions.v2 || !versions.v2, `90/10 split: ${JSON.stringify(versions)}`);

      // what it prints works as printed: the dashboard, and an apply with the printed token file
      const dashboard = /dashboard\s+(http:\/\/\S+)/.exec(out)?.[1];
      assert.ok(dashboard, out);
      const page = await fetch(dashboard);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      const tokenFile = /admin token\s+(\S+)/.exec(out)?.[1];
      assert.ok(tokenFile, out);
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'trellis-demo-test-')), 'split.yaml');
      writeFileSync(file, 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: api-split }\nspec:\n' +
        '  parentRefs: [{ name: api, kind: Service }]\n  rules: [{ backendRefs: [{ name: api-v1, weight: 50 }, { name: api-v2, weight: 50 }] }]\n');
      const apply = spawnSync(process.execPath, [cliPath, 'apply', '--token-file', tokenFile, '-f', file], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(apply.status, 0, apply.stderr + apply.stdout);
      const routes = spawnSync(process.execPath, [cliPath, 'get', 'routes', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(routes.status, 0, routes.stderr);
      assert.match(routes.stdout, /"weight": ?50/);
    } finally {
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
      if (code === 'timeout') process.kill(-child.pid!, 'SIGKILL');
      assert.equal(code, 0, out.slice(-2000));
    }
    assert.match(out, /nothing left running/);
    for (const [host, port] of [['127.0.0.1', 8080], ['127.0.0.1', 15080], ['127.0.1.1', 15001], ['127.0.1.11', 8000]] as const) {
      assert.ok(await portFree(host, port), `${host}:${port} must be free after the demo stops`);
    }
  });
});
