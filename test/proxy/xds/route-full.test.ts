// HTTPRoute in full over xDS: matches (regex, headers, query, method), header modifiers,
// redirects, rewrites and mirrors go compile → protobuf bytes → decode into exactly the typed
// route; the decoder refuses what the data path cannot run, naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import type { Resource } from '../../../src/resources/kinds.js';
import type { ClusterConfig, Route, RouteTable } from '../../../src/proxy/config/proxy-config.js';
import { clusterKind, decodeResourceBytes, routeKind, type ResourceKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { encodeResource, outboundRoutes, type Obj } from './xds-fixtures.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'web-1', service: 'web', namespace: 'default', address: '127.0.35.2', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.35.2', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};

function parse(yaml: string): Resource[] {
  const r = parseResources(yaml, 't.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.resources;
}

function decodeBytes<T>(kind: ResourceKind<T>, bytes: Uint8Array): T {
  const r = decodeResourceBytes(kind, bytes);
  if (!r.ok) assert.fail(`expected ok, got: ${r.error}`);
  return r.value;
}

const svc = (n: string) => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\n---\n`;
const mesh = parse(`${svc('api')}${svc('api-v1')}${svc('api-v2')}${svc('shadow')}apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: payments }
spec: { hosts: [pay.example.com], addresses: [127.0.35.9, 127.0.35.10], ports: [{ port: 8443 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: full }
spec:
  parentRefs: [{ name: api }]
  rules:
    - name: canary
      matches:
        - path: { type: RegularExpression, value: "/items/[0-9]+" }
          headers: [{ name: X-Canary, value: "yes" }, { type: RegularExpression, name: user-agent, value: "(?i)curl/.*" }]
          queryParams: [{ name: debug, value: "1" }]
          method: GET
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Env, value: canary }], add: [{ name: X-Trace, value: a }], remove: [x-drop] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: Cache-Control, value: no-store }], remove: [server] }
        - type: RequestMirror
          requestMirror: { backendRef: { name: shadow }, percent: 25 }
      backendRefs: [{ name: api-v2 }]
    - name: old
      matches: [{ path: { type: PathPrefix, value: /old/ } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, hostname: new.example.com, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 301 } }]
    - name: moved
      matches: [{ path: { type: Exact, value: /here } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /there } } }]
    - name: v1
      matches: [{ path: { type: PathPrefix, value: /v1 } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: backend.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
      backendRefs: [{ name: api-v1, weight: 999 }, { name: api-v2, weight: 1 }]
    - name: full
      matches: [{ path: { type: Exact, value: /a } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /b } } }]
      backendRefs: [{ name: api-v1 }]
`);

const encoded = encodeSnapshot(compileSnapshot({ resources: mesh, instances: [] }, node));
const table: RouteTable = decodeBytes(routeKind, encoded.resources.get(typeUrls.routeConfiguration)!.get('outbound')!.value);
const routes = table.virtualHosts.find((v) => v.name === 'api.default')!.routes;
const byName = (name: string): Route => routes.find((r) => r.name === name)!;

test('matches on regex path, headers, query and method decode exactly', () => {
  const r = byName('full.0');
  assert.deepEqual(r.match, { kind: 'regex', value: '/items/[0-9]+' });
  assert.equal(r.method, 'GET');
  assert.deepEqual(r.headers, [{ name: 'x-canary', kind: 'exact', value: 'yes' }, { name: 'user-agent', kind: 'regex', value: '(?i)curl/.*' }]);
  assert.deepEqual(r.queryParams, [{ name: 'debug', kind: 'exact', value: '1' }]);
  assert.deepEqual(r.clusters, [{ cluster: 'api-v2.default', weight: 1 }]);
});

test('header modifiers and mirrors decode exactly', () => {
  const r = byName('full.0');
  assert.deepEqual(r.requestHeaders, { set: [['x-env', 'canary']], add: [['x-trace', 'a']], remove: ['x-drop'] });
  assert.deepEqual(r.responseHeaders, { set: [['cache-control', 'no-store']], add: [], remove: ['server'] });
  assert.deepEqual(r.mirrors, [{ cluster: 'shadow.default', percent: 25 }]);
});

test('redirects decode with scheme, host, path and status; they forward nowhere', () => {
  const old = byName('full.1');
  assert.deepEqual(old.match, { kind: 'segment-prefix', value: '/old' });
  assert.deepEqual(old.redirect, { statusCode: 301, scheme: 'https', host: 'new.example.com', path: { kind: 'prefix', value: '/new' } });
  assert.deepEqual(old.clusters, []);
  assert.equal(old.retry, undefined);
  assert.deepEqual(byName('full.2').redirect, { statusCode: 302, path: { kind: 'full', value: '/there' } });
});

test('rewrites decode: prefix, full path, host; 999:1 weights travel as given', () => {
  const v1 = byName('full.3');
  assert.deepEqual(v1.rewrite, { host: 'backend.internal', path: { kind: 'prefix', value: '/' } });
  assert.deepEqual(v1.clusters, [{ cluster: 'api-v1.default', weight: 999 }, { cluster: 'api-v2.default', weight: 1 }]);
  assert.deepEqual(byName('full.4').rewrite, { path: { kind: 'full', value: '/b' } });
});

test('routes are ordered by Gateway API precedence: exact, longest prefix, regex', () => {
  assert.deepEqual(routes.map((r) => r.name), ['full.2', 'full.4', 'full.1', 'full.3', 'full.0']);
});

test('an ExternalService becomes a STATIC cluster and a virtual host for its host names', () => {
  const c: ClusterConfig = decodeBytes(clusterKind, encoded.resources.get(typeUrls.cluster)!.get('payments.default')!.value);
  assert.deepEqual(c.staticEndpoints?.map((e) => `${e.address}:${e.port}`), ['127.0.35.9:8443', '127.0.35.10:8443']);
  const vh = table.virtualHosts.find((v) => v.name === 'payments.default')!;
  assert.deepEqual(vh.domains, ['pay.example.com', 'pay.example.com:8443']);
  assert.deepEqual(vh.routes[0].clusters, [{ cluster: 'payments.default', weight: 1 }]);
  assert.ok(vh.routes[0].retry, 'external traffic gets the default retries');
});

function decode(route: Obj) {
  return decodeResourceBytes(routeKind, encodeResource(typeUrls.routeConfiguration, outboundRoutes(['api'], { api: [route] })));
}

function refusedWith(route: Obj, ...parts: string[]): void {
  const r = decode(route);
  assert.equal(r.ok, false, 'expected a refusal');
  if (!r.ok) for (const p of parts) assert.ok(r.error.includes(p), `"${r.error}" should mention "${p}"`);
}

test('the decoder refuses regexes JavaScript cannot run safely, and matchers it does not implement', () => {
  const base = { name: 'r', route: { cluster: 'api.default' } };
  refusedWith({ ...base, match: { safe_regex: { regex: '(a+)+$' } } }, 'match.safe_regex', 'exponential');
  refusedWith({ ...base, match: { safe_regex: { regex: '(?=x)' } } }, 'lookaround');
  refusedWith({ ...base, match: { prefix: '/', headers: [{ name: 'x', string_match: { safe_regex: { regex: '(a)\\1' } } }] } }, 'match.headers[0]', 'backreferences');
  refusedWith({ ...base, match: { prefix: '/', headers: [{ name: 'x', range_match: { start: 1, end: 2 } }] } }, 'range_match');
  refusedWith({ ...base, match: { prefix: '/', headers: [{ name: 'x', string_match: { exact: 'a' }, invert_match: true }] } }, 'invert_match');
  refusedWith({ ...base, match: { prefix: '/', query_parameters: [{ name: 'q', present_match: true }] } }, 'query_parameters[0].present_match');
  refusedWith({ name: 'r', match: { path: '/x' }, route: { cluster: 'a', prefix_rewrite: '/y' } }, 'prefix_rewrite needs a prefix');
  refusedWith({ name: 'r', match: { prefix: '/' }, route: { cluster: 'a', request_mirror_policies: [{ cluster_header: 'x' }] } }, 'request_mirror_policies[0].cluster');
  assert.equal(decode({ ...base, match: { safe_regex: { regex: '/[a-z]+' } } }).ok, true);
});
