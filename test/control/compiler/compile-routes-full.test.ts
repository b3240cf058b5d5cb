// The compiler's side of HTTPRoute in full: Envoy fields for matches and filters, route status
// (conflicts, unknown backends, ExternalService references) and the ExternalService's cluster.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOutboundRoutes } from '../../../src/control/compiler/compile-routes.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { routeStatuses } from '../../../src/control/compiler/route-status.js';
import { compileExternalClusters } from '../../../src/control/compiler/compile-external-services.js';
import type { ExternalService } from '../../../src/resources/external-service.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { nodeInfo, resources } from '../helpers.js';

const svcs = (...names: string[]) => names.map((n) => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\n---\n`).join('');

function stamped(rs: Resource[], created: Record<string, string>): Resource[] {
  for (const r of rs) if (created[r.metadata.name]) (r.metadata as Record<string, unknown>).creationTimestamp = created[r.metadata.name];
  return rs;
}

describe('HTTPRoute in full: Envoy fields', () => {
  const rs = resources(`${svcs('api', 'shadow')}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /a/ }, method: PUT, headers: [{ name: X-A, value: "1" }], queryParams: [{ type: RegularExpression, name: q, value: "[0-9]+" }] }]
      filters:
        - { type: RequestMirror, requestMirror: { backendRef: { name: shadow }, fraction: { numerator: 1, denominator: 1000 } } }
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-S, value: s }], add: [{ name: x-a, value: a }], remove: [X-R] } }
        - { type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /z } } }
      backendRefs: [{ name: api }]
    - matches: [{ path: { type: Exact, value: /r } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.com, port: 8443, statusCode: 308 } }]
`);
  const routes = (compileOutboundRoutes(meshServices(rs, []), rs, nodeInfo({ service: 'web' })).virtual_hosts as any[])
    .find((v) => v.name === 'api.default').routes as Record<string, any>[];

  it('sends matches as path_separated_prefix, a :method header, header and query matchers', () => {
    const r = routes.find((x) => x.name === 'r.0')!;
    assert.deepEqual(r.match, {
      path_separated_prefix: '/a',
      headers: [{ name: ':method', string_match: { exact: 'PUT' } }, { name: 'x-a', string_match: { exact: '1' } }],
      query_parameters: [{ name: 'q', string_match: { safe_regex: { regex: '[0-9]+' } } }],
    });
  });

  it('sends filters as Envoy route fields; a fraction travels per million', () => {
    const r = routes.find((x) => x.name === 'r.0')!;
    assert.deepEqual(r.route.request_mirror_policies, [{ cluster: 'shadow.default', runtime_fraction: { default_value: { numerator: 1000, denominator: 'MILLION' } } }]);
    assert.deepEqual(r.route.regex_rewrite, { pattern: { regex: '^/.*$' }, substitution: '/z' });
    assert.deepEqual(r.request_headers_to_add, [
      { header: { key: 'x-s', value: 's' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-a', value: 'a' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
    ]);
    assert.deepEqual(r.request_headers_to_remove, ['x-r']);
  });

  it('sends a redirect instead of a route action, with no resilience fields', () => {
    const r = routes.find((x) => x.name === 'r.1')!;
    assert.deepEqual(r, { name: 'r.1', match: { path: '/r' }, redirect: { host_redirect: 'example.com', port_redirect: 8443, response_code: 'PERMANENT_REDIRECT' } });
  });
});

describe('route status', () => {
  const route = (name: string, match: string, backend = 'api') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ name: api }]
  rules: [{ matches: [${match}], backendRefs: [{ name: ${backend} }] }]
`;

  it('refuses the newer of two routes with an identical match on one parent, naming the older', () => {
    const rs = stamped(resources(svcs('api').replace(/---\n$/, '') + route('a-new', '{ path: { type: PathPrefix, value: /x/ }, headers: [{ name: X-A, value: "1" }] }')
      + route('b-old', '{ headers: [{ name: x-a, value: "1" }], path: { type: PathPrefix, value: /x } }')
      + route('c-other', '{ path: { type: PathPrefix, value: /x }, headers: [{ name: x-a, value: "2" }] }')), { 'a-new': '2026-02-01T00:00:00Z', 'b-old': '2026-01-01T00:00:00Z', 'c-other': '2026-03-01T00:00:00Z' });
    const st = routeStatuses(rs, meshServices(rs, []));
    const byName = new Map([...st].map(([r, s]) => [r.metadata.name, s]));
    assert.deepEqual(byName.get('b-old'), { accepted: true });
    assert.deepEqual(byName.get('c-other'), { accepted: true });
    const conflicted = byName.get('a-new') as any;
    assert.equal(conflicted.reason, 'Conflicted');
    assert.match(conflicted.message, /^spec\.rules\[0\]\.matches\[0\]: the same match on api\.default as default\/b-old spec\.rules\[0\]\.matches\[0\]/);
    const names = (compileOutboundRoutes(meshServices(rs, []), rs, nodeInfo({ service: 'web' })).virtual_hosts as any[])[0].routes.map((r: any) => r.name);
    assert.deepEqual(names, ['b-old.0', 'c-other.0'], 'the conflicted route is left out');
  });

  it('names unknown mirror backends and accepts ExternalService references', () => {
    const rs = resources(`${svcs('api')}apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec: { hosts: [partner.example.com], addresses: [10.0.0.1] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ext }
spec:
  parentRefs: [{ kind: ExternalService, name: partner }]
  rules: [{ backendRefs: [{ kind: ExternalService, name: partner }], timeouts: { request: 2s } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: mirror }
spec:
  parentRefs: [{ name: api }]
  rules: [{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: nowhere } } }], backendRefs: [{ name: api }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wrong-kind }
spec:
  parentRefs: [{ name: partner }]
  rules: [{ backendRefs: [{ name: api }] }]
`);
    const st = new Map([...routeStatuses(rs, meshServices(rs, []))].map(([r, s]) => [r.metadata.name, s as any]));
    assert.deepEqual(st.get('ext'), { accepted: true });
    assert.equal(st.get('mirror').reason, 'BackendServiceUnknown');
    assert.match(st.get('mirror').message, /^spec\.rules\[0\]\.filters\[0\]\.requestMirror\.backendRef: backend Service nowhere\.default does not exist/);
    assert.match(st.get('wrong-kind').message, /^spec\.parentRefs\[0\]: parent Service partner\.default does not exist/);
    const vh = (compileOutboundRoutes(meshServices(rs, []), rs, nodeInfo({ service: 'web' })).virtual_hosts as any[]).find((v) => v.name === 'partner.default');
    assert.deepEqual(vh.domains, ['partner.example.com', 'partner.example.com:80']);
    assert.deepEqual(vh.routes.map((r: any) => [r.name, r.route.cluster, r.route.timeout]), [['ext.0', 'partner.default', { seconds: 2 }]]);
  });

  it('compiles an ExternalService into a STATIC cluster', () => {
    const [ext] = resources(`apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec: { hosts: [partner.example.com], addresses: [10.0.0.1, 10.0.0.2], ports: [{ port: 8080 }] }
`) as ExternalService[];
    const [c] = compileExternalClusters(ext);
    assert.equal(c.type, 'STATIC');
    assert.deepEqual((c.load_assignment as any).endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address), [
      { address: '10.0.0.1', port_value: 8080 }, { address: '10.0.0.2', port_value: 8080 },
    ]);
    assert.equal(c.dns_refresh_rate, undefined);
  });

  it('compiles host-name addresses into STRICT_DNS, and each further port into a cluster and a virtual host of its own', () => {
    const rs = resources(`apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec:
  hosts: [partner.example.com]
  addresses: [partner-a.example.net, 10.0.0.7]
  ports: [{ port: 8080 }, { port: 8443 }]
  dnsRefreshInterval: 10s
`);
    const ext = rs[0] as ExternalService;
    const clusters = compileExternalClusters(ext);
    assert.deepEqual(clusters.map((c) => [c.name, c.type, c.dns_refresh_rate, c.dns_lookup_family]), [
      ['partner.default', 'STRICT_DNS', { seconds: 10 }, 'V4_PREFERRED'],
      ['partner.default:8443', 'STRICT_DNS', { seconds: 10 }, 'V4_PREFERRED'],
    ]);
    assert.deepEqual((clusters[1].load_assignment as any).endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address), [
      { address: 'partner-a.example.net', port_value: 8443 }, { address: '10.0.0.7', port_value: 8443 },
    ]);
    const [proxyless] = compileExternalClusters(ext, true);
    assert.equal(proxyless.type, 'LOGICAL_DNS', 'gRPC clients resolve one name themselves');
    const vhs = (compileOutboundRoutes(meshServices(rs, []), rs, nodeInfo({ service: 'web' })).virtual_hosts as any[]).filter((v) => v.name.startsWith('partner.'));
    assert.deepEqual(vhs.map((v) => [v.name, v.domains, v.routes.map((r: any) => r.route.cluster)]), [
      ['partner.default', ['partner.example.com', 'partner.example.com:8080'], ['partner.default']],
      ['partner.default:8443', ['partner.example.com:8443'], ['partner.default:8443']],
    ]);
    assert.ok(vhs[1].routes[0].route.retry_policy, 'the other port gets the default retries too');
  });
});
