import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../src/proxy/main.js';
import { AdsTestServer } from './xds/ads-test-server.js';
import { webSnapshot } from './xds/xds-fixtures.js';

const pod = '127.0.21.11';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

test('onFirstConfig runs once, after the first config is applied and its listeners bound, not on later updates', async () => {
  const server = await AdsTestServer.start('127.0.21.10', webSnapshot(pod), '1');
  let calls = 0;
  let listenersAtCall = -1;
  let first!: () => void;
  const firstCalled = new Promise<void>((resolve) => { first = resolve; });
  // The callback needs network I/O first, so it always runs after `proxy` is assigned.
  const proxy = await startProxy({
    service: 'web', address: pod, adminPort: 0, control: server.address, logLevel: 'silent', drainMs: 50,
    onFirstConfig: () => {
      calls++;
      listenersAtCall = proxy.runtime.activeListeners().size;
      first();
    },
  });
  try {
    await within(firstCalled, 10_000, 'first config');
    assert.equal(calls, 1);
    assert.equal(listenersAtCall, 2);
    server.setSnapshot('2', webSnapshot(pod, [90, 10]));
    await server.waitForRequest((r) => r.version_info === '2', 10_000);
    await proxy.runtime.listening();
    assert.equal(calls, 1);
  } finally {
    await proxy.close();
    await server.stop();
  }
});
