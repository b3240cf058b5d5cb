// The SO_ORIGINAL_DST addon on connections iptables really redirected (`trellis init` in a
// namespace of its own); the unit test covers bad fds and sockets that were not redirected.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsFabric, netnsUnavailable } from './netns-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../../../src/cli/main.js');
const probe = path.join(here, 'original-dst-probe.js');

const skip = netnsUnavailable();
if (skip) process.stdout.write(`# skipping the network-namespace tests: ${skip}\n`);

describe('SO_ORIGINAL_DST after a real redirect', { skip: skip ?? false }, () => {
  const fabric = new NetnsFabric();
  after(async () => {
    await fabric.destroy();
    assert.deepEqual(fabric.leftovers(), []);
  });

  it('returns where the app was going, for the addon and the socket wrapper; EBADF once closed', { timeout: 60_000 }, async () => {
    fabric.create([{ name: 'pod', octet: 21 }]);
    const init = await fabric.exec('pod', process.execPath, [cli, 'init', '--proxy-uid', '1337']);
    assert.equal(init.code, 0, init.stderr);
    const r = await fabric.exec('pod', process.execPath, [probe, '10.200.77.7', '8080']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out.raw, { address: '10.200.77.7', port: 8080, family: 4 });
    assert.deepEqual(out.wrapped, { address: '10.200.77.7', port: 8080, family: 4 });
    assert.equal(out.closed, 'EBADF');
  });

  it('reads an IPv6 redirect too (ip6tables, on the namespace\'s own loopback)', { timeout: 60_000 }, async () => {
    const rule = await fabric.exec('pod', 'ip6tables', ['-w', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '::1', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', '15001']);
    assert.equal(rule.code, 0, rule.stderr);
    const r = await fabric.exec('pod', process.execPath, [probe, '::1', '8080']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out.raw, { address: '::1', port: 8080, family: 6 });
    assert.deepEqual(out.wrapped, { address: '::1', port: 8080, family: 6 });
  });
});
