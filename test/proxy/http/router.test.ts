import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, hostWithPort, normalizeHost } from '../../../src/proxy/http/router.js';
import type { RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { prefixRoute } from '../proxy-test-support.js';

/** mulberry32: a seeded PRNG so distribution checks are exact and repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const table: RouteTable = {
  name: 'outbound',
  virtualHosts: [
    {
      name: 'api',
      domains: ['api', 'api.default', 'API.default.svc'],
      routes: [
        { name: 'exact', match: { kind: 'exact', value: '/health' }, clusters: [{ cluster: 'health', weight: 1 }], timeoutMs: 0 },
        prefixRoute('v2', '/v2/', [['api-v2', 1]]),
        prefixRoute('all', '/', [['api-v1', 1]]),
      ],
    },
    { name: 'wild-suffix', domains: ['*.example.com'], routes: [prefixRoute('suffix', '/', [['s', 1]])] },
    { name: 'wild-suffix-long', domains: ['*.deep.example.com'], routes: [prefixRoute('suffix-long', '/', [['sl', 1]])] },
    { name: 'wild-prefix', domains: ['web.*'], routes: [prefixRoute('prefix', '/', [['p', 1]])] },
    { name: 'only-api', domains: ['narrow'], routes: [prefixRoute('narrow', '/api', [['n', 1]])] },
    { name: 'default', domains: ['*'], routes: [prefixRoute('fallback', '/', [['f', 1]])] },
  ],
};

test('host picks the virtual host: exact, case-insensitive, port stripped', () => {
  const r = new Router(table);
  assert.equal(r.virtualHost('api')?.name, 'api');
  assert.equal(r.virtualHost('API:15001')?.name, 'api');
  assert.equal(r.virtualHost('api.default.svc:80')?.name, 'api');
  assert.equal(r.virtualHost('unknown')?.name, 'default');
  assert.equal(r.virtualHost(undefined)?.name, 'default');
});

test('wildcards: longest suffix first, then prefix, then *', () => {
  const r = new Router(table);
  assert.equal(r.virtualHost('a.example.com')?.name, 'wild-suffix');
  assert.equal(r.virtualHost('x.deep.example.com')?.name, 'wild-suffix-long');
  assert.equal(r.virtualHost('example.com')?.name, 'default', 'the suffix wildcard needs at least one character before it');
  assert.equal(r.virtualHost('web.prod')?.name, 'wild-prefix');
});

test('no fallback virtual host → no route', () => {
  const r = new Router({ name: 't', virtualHosts: [table.virtualHosts[0]] });
  assert.equal(r.route('other', '/'), null);
  assert.equal(r.route('api', '/x')?.name, 'all');
});

test('first matching route wins; exact and prefix ignore the query string', () => {
  const r = new Router(table);
  assert.equal(r.route('api', '/health')?.name, 'exact');
  assert.equal(r.route('api', '/health?verbose=1')?.name, 'exact');
  assert.equal(r.route('api', '/healthz')?.name, 'all');
  assert.equal(r.route('api', '/v2/items?x=1')?.name, 'v2');
  assert.equal(r.route('api', '/v2')?.name, 'all');
  assert.equal(r.route('narrow', '/api/x')?.name, 'narrow');
  assert.equal(r.route('narrow', '/other'), null, 'a virtual host without a matching route gives no route');
  assert.equal(r.route('narrow', '/ap?i=1'), null, 'the query must not complete a prefix');
});

test('weighted clusters split as configured over many picks', () => {
  const weighted: RouteTable = {
    name: 'w',
    virtualHosts: [{ name: 'api', domains: ['*'], routes: [prefixRoute('split', '/', [['v1', 90], ['v2', 10], ['off', 0]])] }],
  };
  const r = new Router(weighted, seeded(42));
  const route = r.route('api', '/')!;
  const counts: Record<string, number> = {};
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const c = route.pickCluster()!;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  assert.equal(counts.off, undefined, 'weight 0 is never picked');
  // 90/10 within ±1 percentage point (the standard deviation here is ~0.1 pt).
  assert.ok(Math.abs(counts.v1 / n - 0.9) < 0.01, `v1 share ${counts.v1 / n}`);
  assert.ok(Math.abs(counts.v2 / n - 0.1) < 0.01, `v2 share ${counts.v2 / n}`);
});

test('a single cluster needs no random number', () => {
  let calls = 0;
  const r = new Router(table, () => {
    calls++;
    return 0.5;
  });
  assert.equal(r.route('api', '/')?.pickCluster(), 'api-v1');
  assert.equal(calls, 0);
});

test('normalizeHost keeps IPv6 literals and drops a trailing dot', () => {
  assert.equal(normalizeHost('[::1]:8080'), '[::1]');
  assert.equal(normalizeHost('Api.Default.'), 'api.default');
  assert.equal(normalizeHost('api:15001'), 'api');
});

test('a domain with a port wins for a Host with that port; any other port falls back to the name', () => {
  const table: RouteTable = {
    name: 'outbound',
    virtualHosts: [
      { name: 'partner', domains: ['partner.test', 'partner.test:80'], routes: [prefixRoute('p80', '/', [['partner.default', 1]])] },
      { name: 'partner:8443', domains: ['partner.test:8443'], routes: [prefixRoute('p8443', '/', [['partner.default:8443', 1]])] },
    ],
  };
  const r = new Router(table);
  assert.equal(r.route('partner.test:8443', '/')?.pickCluster(), 'partner.default:8443');
  assert.equal(r.route('Partner.Test.:8443', '/')?.pickCluster(), 'partner.default:8443');
  assert.equal(r.route('partner.test', '/')?.pickCluster(), 'partner.default');
  assert.equal(r.route('partner.test:9999', '/')?.pickCluster(), 'partner.default');
  assert.equal(hostWithPort('[::1]'), null);
  assert.equal(hostWithPort('[::1]:80'), '[::1]:80');
  assert.equal(hostWithPort('api'), null);
});
