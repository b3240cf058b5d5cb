import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyConfig } from '../../bench/bench-haproxy-config.js';
import { nginxRunAsUser } from '../../bench/bench-nginx.js';
import { nginxProxyConfig, nginxUpstreamConfig } from '../../bench/bench-nginx-config.js';
import { findExecutable } from '../../bench/bench-tools.js';

const nginx = findExecutable('nginx');
const haproxy = findExecutable('haproxy');

test('the upstream serves exactly the body size asked for', () => {
  const conf = nginxUpstreamConfig({ prefix: '/p', runAsUser: null }, '127.0.40.10:8080', 100);
  const body = /return 200 "(x*)";/.exec(conf);
  assert.equal(body?.[1].length, 100);
  assert.doesNotMatch(conf, /^user /m);
  assert.match(nginxUpstreamConfig({ prefix: '/p', runAsUser: 'root' }, 'a:1', 1), /^user root;$/m);
});

test('nginx accepts both generated configs (nginx -t)', { skip: nginx === null ? 'nginx not installed' : false }, () => {
  const prefix = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  try {
    const common = { prefix, runAsUser: nginxRunAsUser() };
    for (const [name, conf] of [
      ['upstream.conf', nginxUpstreamConfig(common, '127.0.40.10:8080', 100)],
      ['proxy.conf', nginxProxyConfig(common, '127.0.40.11:8080', '127.0.40.10:8080')],
    ]) {
      const path = join(prefix, name);
      writeFileSync(path, conf);
      const r = spawnSync(nginx as string, ['-t', '-p', prefix, '-c', path, '-e', join(prefix, 'error.log')], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    }
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

test('HAProxy accepts the generated config (haproxy -c)', { skip: haproxy === null ? 'haproxy not installed' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'));
  try {
    const path = join(dir, 'haproxy.cfg');
    writeFileSync(path, haproxyConfig(join(dir, 'haproxy.pid'), '127.0.40.12:8080', '127.0.40.10:8080'));
    const r = spawnSync(haproxy as string, ['-c', '-f', path], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stderr + r.stdout, /WARNING/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
