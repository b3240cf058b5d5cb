// The filters' data path on their own: Gateway API's ReplacePrefixMatch table, full-path and
// regex rewrites, redirect Locations, header modifiers and the mirror's Host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { CompiledPathRewrite, replacePrefixMatch } from '../../../src/proxy/http/path-rewrite.js';
import { applyHeaderMutation } from '../../../src/proxy/http/header-mutation.js';
import { shadowHead } from '../../../src/proxy/http/request-mirror.js';
import { RouteFilters } from '../../../src/proxy/http/route-filters.js';
import type { Route } from '../../../src/proxy/config/proxy-config.js';

test('ReplacePrefixMatch follows the Gateway API table', () => {
  const table: [string, string, string, string][] = [
    // [prefix, replacement, request path, result]
    ['/foo', '/xyz', '/foo/bar', '/xyz/bar'],
    ['/foo', '/xyz/', '/foo/bar', '/xyz/bar'],
    ['/foo/', '/xyz', '/foo/bar', '/xyz/bar'],
    ['/foo/', '/xyz/', '/foo/bar', '/xyz/bar'],
    ['/foo', '/xyz', '/foo', '/xyz'],
    ['/foo', '/xyz', '/foo/', '/xyz/'],
    ['/foo', '/', '/foo/bar', '/bar'],
    ['/foo/', '/', '/foo/bar', '/bar'],
    ['/foo', '/', '/foo', '/'],
    ['/', '/xyz', '/foo/bar', '/xyz/foo/bar'],
    ['/', '/xyz', '/', '/xyz'],
    ['/', '/', '/foo', '/foo'],
  ];
  for (const [prefix, replacement, path, want] of table) assert.equal(replacePrefixMatch(path, prefix, replacement), want, `${prefix} → ${replacement} on ${path}`);
});

test('rewrites keep the query; a regex rewrite substitutes groups; a plain Envoy prefix is literal', () => {
  assert.equal(new CompiledPathRewrite({ kind: 'prefix', value: '/v2' }, { kind: 'segment-prefix', value: '/v1' }).apply('/v1/a?x=1&y'), '/v2/a?x=1&y');
  assert.equal(new CompiledPathRewrite({ kind: 'full', value: '/fixed' }, { kind: 'regex', value: '/.*' }).apply('/any/thing?q'), '/fixed?q');
  assert.equal(new CompiledPathRewrite({ kind: 'regex', pattern: '^/api/(v[0-9])/', substitution: '/\\1/' }, { kind: 'prefix', value: '/' }).apply('/api/v3/x?$1'), '/v3/x?$1');
  assert.equal(new CompiledPathRewrite({ kind: 'regex', pattern: 'a', substitution: '$b' }, { kind: 'prefix', value: '/' }).apply('/aa'), '/$b$b');
  assert.equal(new CompiledPathRewrite({ kind: 'prefix', value: '/new' }, { kind: 'prefix', value: '/old' }).apply('/oldx'), '/newx');
});

test('header modifiers: removals first, set replaces every value case-insensitively, add appends', () => {
  const raw = ['Host', 'api', 'X-Env', 'dev', 'x-env', 'test', 'X-Drop', 'secret', 'Accept', '*/*'];
  const out = applyHeaderMutation(raw, { set: [['x-env', 'prod']], add: [['accept', 'text/plain'], ['x-new', '1']], remove: ['x-drop'] });
  assert.deepEqual(out, ['Host', 'api', 'Accept', '*/*', 'x-env', 'prod', 'accept', 'text/plain', 'x-new', '1']);
});

function req(url: string, host: string, method = 'GET'): IncomingMessage {
  return { url, method, rawHeaders: ['Host', host] } as unknown as IncomingMessage;
}

function filters(route: Partial<Route>): RouteFilters {
  return RouteFilters.of({ name: 'r', match: { kind: 'segment-prefix', value: '/old' }, clusters: [], timeoutMs: 0, ...route })!;
}

test('redirect Locations are exact: scheme, host, port and path rules', () => {
  const cases: [Partial<Route>, string, string, string][] = [
    [{ redirect: { statusCode: 301, scheme: 'https', host: 'new.example.com', path: { kind: 'prefix', value: '/new' } } }, '/old/a?b=1', 'api', 'https://new.example.com/new/a?b=1'],
    // a new scheme drops the request's port (the scheme's own port applies)
    [{ redirect: { statusCode: 302, scheme: 'https' } }, '/old', 'api:8080', 'https://api/old'],
    // without a new scheme the port is kept, and a well-known port is left out
    [{ redirect: { statusCode: 302, path: { kind: 'full', value: '/x' } } }, '/old/y', 'api:8080', 'http://api:8080/x'],
    [{ redirect: { statusCode: 302, port: 80 } }, '/old', 'api:8080', 'http://api/old'],
    [{ redirect: { statusCode: 302, scheme: 'https', port: 8443 } }, '/old', 'api', 'https://api:8443/old'],
    [{ redirect: { statusCode: 302, host: 'other' } }, '/old', '[::1]:9000', 'http://other:9000/old'],
  ];
  for (const [route, url, host, want] of cases) assert.equal(filters(route).location(req(url, host)), want, JSON.stringify(route));
});

test('a route without filters has none; the mirror copy says it is a shadow', () => {
  assert.equal(RouteFilters.of({ name: 'r', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: 'a', weight: 1 }], timeoutMs: 0 }), null);
  assert.equal(shadowHead('GET / HTTP/1.1\r\nHost: api:8080\r\nx: y\r\n\r\n'), 'GET / HTTP/1.1\r\nhost: api-shadow:8080\r\nx: y\r\n\r\n');
  assert.equal(shadowHead('GET / HTTP/1.1\r\nx: y\r\nhost: api\r\n\r\n'), 'GET / HTTP/1.1\r\nx: y\r\nhost: api-shadow\r\n\r\n');
});
