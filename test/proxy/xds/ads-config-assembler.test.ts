// assembleProxyConfig: one complete config from the accepted resources, in a stable order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleProxyConfig } from '../../../src/proxy/xds/ads-config-assembler.js';
import type { ClusterConfig, ListenerConfig, RouteTable } from '../../../src/proxy/config/proxy-config.js';

const table = (name: string): RouteTable => ({ name, virtualHosts: [] });
const listener = (name: string): ListenerConfig => ({ name, address: '127.0.94.1', port: 15001, direction: 'outbound', routeConfigName: name }) as ListenerConfig;
const staticCluster = (name: string): ClusterConfig => ({ name, staticEndpoints: [{ address: '127.0.94.2', port: 8080 }] }) as unknown as ClusterConfig;

test('listeners and clusters come in code-unit order of their names, whatever order they arrived in', () => {
  // by code unit '|' sorts after letters and 'B' before 'a'; a locale's collation puts both the other way
  const names = ['b', 'a|x', 'aa', 'B'];
  const r = assembleProxyConfig('v1', {
    listeners: new Map(names.map((n) => [n, listener(n)])),
    routes: new Map(names.map((n) => [n, table(n)])),
    clusters: new Map(names.map((n) => [n, staticCluster(n)])),
    assignments: new Map(),
  });
  if (!r.ok) assert.fail(r.error);
  assert.deepEqual(r.value.listeners.map((l) => l.name), ['B', 'aa', 'a|x', 'b']);
  assert.deepEqual([...r.value.clusters.keys()], ['B', 'aa', 'a|x', 'b']);
});

test('a listener whose route table has not arrived makes the config wait, naming both', () => {
  const r = assembleProxyConfig('v1', { listeners: new Map([['out', listener('out')]]), routes: new Map(), clusters: new Map(), assignments: new Map() });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error, /waiting for route configuration "out" \(listener "out"\)/);
});
