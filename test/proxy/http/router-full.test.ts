// The router with Gateway API matches: weighted choice on a seeded random source (stated
// tolerances), header/query/method conditions, and the precedence the compiler orders routes
// by, checked end to end (HTTPRoute → compiler → xDS bytes → decoder → Router).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../../src/proxy/http/router.js';
import type { Route, RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { decodeResourceBytes, routeKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { parseResources } from '../../../src/resources/validate.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';

/** mulberry32: a seeded PRNG so distribution checks are repeatable. */
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

function weighted(weights: [string, number][]): RouteTable {
  const route: Route = { name: 'split', match: { kind: 'prefix', value: '/' }, clusters: weights.map(([cluster, weight]) => ({ cluster, weight })), timeoutMs: 0 };
  return { name: 'outbound', virtualHosts: [{ name: 'api', domains: ['api'], routes: [route] }] };
}

function shares(router: Router, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  const route = router.route('api', '/')!;
  for (let i = 0; i < n; i++) {
    const c = route.pickCluster()!;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return counts;
}

test('90/10 over 5000 picks lands within 10 % ± 1.5 points (about 3.5 standard deviations)', () => {
  for (const seed of [1, 7, 42]) {
    const counts = shares(new Router(weighted([['v1', 90], ['v2', 10]]), seeded(seed)), 5000);
    const v2 = (counts.get('v2') ?? 0) / 5000;
    assert.ok(v2 > 0.085 && v2 < 0.115, `seed ${seed}: ${v2}`);
  }
});

test('999:1 sends about 0.1 %: 200000 picks give 200 ± 60 to the small side', () => {
  for (const seed of [3, 11]) {
    const counts = shares(new Router(weighted([['stable', 999], ['canary', 1]]), seeded(seed)), 200_000);
    const canary = counts.get('canary') ?? 0;
    assert.ok(canary > 140 && canary < 260, `seed ${seed}: ${canary}`);
  }
});

test('weight 0 sends nothing; the boundaries of the random source stay in range', () => {
  const zero = shares(new Router(weighted([['a', 0], ['b', 5]]), seeded(5)), 1000);
  assert.deepEqual([...zero], [['b', 1000]]);
  assert.equal(new Router(weighted([['a', 1], ['b', 1]]), () => 0).route('api', '/')!.pickCluster(), 'a');
  assert.equal(new Router(weighted([['a', 1], ['b', 1]]), () => 0.9999999999).route('api', '/')!.pickCluster(), 'b');
});

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.35.2', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  labels: {}, zone: '', region: '', version: 'test',
};

/** Compiles the YAML for a node and decodes its outbound routes as the sidecar would. */
function routerFor(yaml: string, created: Record<string, string> = {}): Router {
  const parsed = parseResources(yaml, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  // the store stamps creation times; precedence reads them
  for (const r of parsed.resources) if (created[r.metadata.name]) (r.metadata as Record<string, unknown>).creationTimestamp = created[r.metadata.name];
  const snap = encodeSnapshot(compileSnapshot({ resources: parsed.resources, instances: [] }, node));
  const r = decodeResourceBytes(routeKind, snap.resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value);
  if (!r.ok) throw new Error(r.error);
  return new Router(r.value, seeded(1));
}

const svc = (n: string) => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\n---\n`;
// each rule goes to a backend named after what should win, so the chosen cluster names the rule
const precedence = routerFor(`${svc('api')}${['exact', 'long', 'short', 'regex', 'method', 'headers2', 'headers1', 'query', 'older', 'newer', 'root'].map(svc).join('')}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: b-route }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: RegularExpression, value: "/a/.*" } }]
      backendRefs: [{ name: regex }]
    - matches: [{ path: { type: PathPrefix, value: /a } }]
      backendRefs: [{ name: short }]
    - matches: [{ path: { type: PathPrefix, value: /a/b/ } }]
      backendRefs: [{ name: long }]
    - matches: [{ path: { type: Exact, value: /a/b/c } }]
      backendRefs: [{ name: exact }]
    - matches: [{ path: { type: PathPrefix, value: /m }, headers: [{ name: x-a, value: "1" }] }]
      backendRefs: [{ name: headers1 }]
    - matches: [{ path: { type: PathPrefix, value: /m }, method: POST }]
      backendRefs: [{ name: method }]
    - matches: [{ path: { type: PathPrefix, value: /m }, headers: [{ name: x-a, value: "1" }, { name: x-b, type: RegularExpression, value: "v[0-9]" }] }]
      backendRefs: [{ name: headers2 }]
    - matches: [{ path: { type: PathPrefix, value: /m }, queryParams: [{ name: q, value: "1" }] }]
      backendRefs: [{ name: query }]
    - matches: [{ path: { type: PathPrefix, value: /t } }]
      backendRefs: [{ name: newer }]
    - matches: [{ path: { type: PathPrefix, value: /u }, headers: [{ name: x-v, value: "1" }] }]
      backendRefs: [{ name: newer }]
    - backendRefs: [{ name: root }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: c-route }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /t }, headers: [{ name: x-t, value: "1" }] }]
      backendRefs: [{ name: older }]
    - matches: [{ path: { type: PathPrefix, value: /u/ }, headers: [{ name: x-u, value: "1" }] }]
      backendRefs: [{ name: older }]
`, { 'b-route': '2026-01-01T00:00:00Z', 'c-route': '2025-01-01T00:00:00Z' });

const cases: [string, string, { method?: string; headers?: Record<string, string> }, string][] = [
  // [what the spec says, target, request, winner]
  ['an exact path beats every prefix and regex', '/a/b/c', {}, 'exact'],
  ['the longest prefix beats a shorter one', '/a/b/c/d', {}, 'long'],
  ['a prefix matches whole segments ("/a/b/" covers "/a/b")', '/a/b', {}, 'long'],
  ['a shorter prefix beats a regex', '/a/x', {}, 'short'],
  ['a prefix never matches inside a segment', '/ab', {}, 'root'],
  ['a method match beats header matches', '/m', { method: 'POST', headers: { 'x-a': '1', 'x-b': 'v1' } }, 'method'],
  ['more header matches beat fewer', '/m', { headers: { 'x-a': '1', 'x-b': 'v2' } }, 'headers2'],
  ['a header regex matches the whole value', '/m', { headers: { 'x-a': '1', 'x-b': 'v22' } }, 'headers1'],
  ['header names are case-insensitive', '/m', { headers: { 'X-A': '1' } }, 'headers1'],
  ['headers beat query params', '/m?q=1', { headers: { 'x-a': '1' } }, 'headers1'],
  ['a query param match', '/m?z=0&q=1', {}, 'query'],
  ['query values compare decoded', '/m?q=%31', {}, 'query'],
  ['no condition met falls through to the catch-all', '/m?q=2', {}, 'root'],
  ['with equal paths, a header match beats the older route', '/t/x', { headers: { 'x-t': '1' } }, 'older'],
  ['equal precedence: the older route wins over the name order', '/u/x', { headers: { 'x-u': '1', 'x-v': '1' } }, 'older'],
  ['... and the newer one still takes what only it matches', '/u/x', { headers: { 'x-v': '1' } }, 'newer'],
  ['a path without its condition goes on down the list', '/t/x', {}, 'newer'],
];

test('precedence between overlapping matches follows Gateway API (table)', () => {
  for (const [what, url, req, winner] of cases) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    const route = precedence.route('api', url, { method: req.method ?? 'GET', headers });
    assert.equal(route?.pickCluster(), `${winner}.default`, `${what}: ${url}`);
  }
});

test('a route with header conditions never matches a request the router cannot see', () => {
  const r = precedence.route('api', '/m');
  assert.equal(r?.pickCluster(), 'root.default');
});
