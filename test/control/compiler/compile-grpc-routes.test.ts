// The compiler's side of GRPCRoute: paths and regexes for service/method matches, the gRPC
// content-type gate, Gateway API precedence, weights and filters, how it sits beside HTTPRoutes
// of the same Service, resilience (rule fields and ResiliencePolicy), status and proxyless clients.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOutboundRoutes, compileServiceRoutes, routesByParent } from '../../../src/control/compiler/compile-routes.js';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { indexPolicies } from '../../../src/control/compiler/resilience-policies.js';
import { routeStatuses, type MeshRoute } from '../../../src/control/compiler/route-status.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { nodeInfo, resources } from '../helpers.js';

const svcs = (...names: string[]) => names.map((n) => `apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\n---\n`).join('');
const grpcContentType = { name: 'content-type', string_match: { safe_regex: { regex: 'application/grpc(?:|[+;].*)' } } };

const grpcRoute = (name: string, rules: string, parent = 'greeter') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ name: ${parent} }]
  rules:
${rules.replace(/^\n/, '').replace(/^/gm, '    ')}
`;

function stamped(rs: Resource[], created: Record<string, string>): Resource[] {
  for (const r of rs) if (created[r.metadata.name]) (r.metadata as Record<string, unknown>).creationTimestamp = created[r.metadata.name];
  return rs;
}

function vhostRoutes(rs: Resource[], vhost = 'greeter.default'): Record<string, any>[] {
  return (compileOutboundRoutes(meshServices(rs, []), rs, nodeInfo({ service: 'web' })).virtual_hosts as any[]).find((v) => v.name === vhost).routes;
}

describe('GRPCRoute matches → Envoy RouteMatch', () => {
  const rs = resources(svcs('greeter', 'greeter-v2').replace(/---\n$/, '') + grpcRoute('g', `
- matches:
    - method: { service: helloworld.Greeter, method: SayHello }
    - method: { service: helloworld.Greeter }
      headers: [{ name: X-Canary, value: "yes" }, { type: RegularExpression, name: x-env, value: "dev|test" }]
    - method: { method: SayGoodbye }
    - method: { type: RegularExpression, service: "helloworld\\\\.v[0-9]+\\\\.Greeter", method: "Say.*" }
    - method: { type: RegularExpression, method: "Get.*" }
    - headers: [{ name: x-all, value: "1" }]
  backendRefs: [{ name: greeter-v2 }]
- backendRefs: [{ name: greeter }]
`));
  const routes = vhostRoutes(rs);
  const matchOf = (i: number) => routes[i].match;

  it('turns an exact service and method into an exact path, a service alone into a "/<service>/" prefix', () => {
    assert.deepEqual(matchOf(0), { path: '/helloworld.Greeter/SayHello', headers: [grpcContentType] });
    assert.deepEqual(matchOf(1), {
      prefix: '/helloworld.Greeter/',
      headers: [grpcContentType, { name: 'x-canary', string_match: { exact: 'yes' } }, { name: 'x-env', string_match: { safe_regex: { regex: 'dev|test' } } }],
    });
  });

  it('turns a method alone and regular expressions into one RE2 path pattern', () => {
    assert.deepEqual(matchOf(2), { safe_regex: { regex: '/[^/]+/(?:SayGoodbye)' }, headers: [grpcContentType] });
    assert.deepEqual(matchOf(3), { safe_regex: { regex: '/(?:helloworld\\.v[0-9]+\\.Greeter)/(?:Say.*)' }, headers: [grpcContentType] });
    assert.deepEqual(matchOf(4), { safe_regex: { regex: '/[^/]+/(?:Get.*)' }, headers: [grpcContentType] });
  });

  it('matches every gRPC request where no method is given, and only gRPC requests everywhere', () => {
    assert.deepEqual(matchOf(5), { prefix: '/', headers: [grpcContentType, { name: 'x-all', string_match: { exact: '1' } }] });
    assert.deepEqual(matchOf(6), { prefix: '/', headers: [grpcContentType] });
    assert.ok(routes.every((r) => r.match.headers[0] === grpcContentType || JSON.stringify(r.match.headers[0]) === JSON.stringify(grpcContentType)));
  });

  it('names each Envoy route after its rule, apart from HTTPRoute names, and sends it to its backends', () => {
    assert.deepEqual(routes.map((r) => r.name), ['grpc:g.0', 'grpc:g.0', 'grpc:g.0', 'grpc:g.0', 'grpc:g.0', 'grpc:g.0', 'grpc:g.1']);
    assert.equal(routes[0].route.cluster, 'greeter-v2.default');
    assert.equal(routes[6].route.cluster, 'greeter.default');
  });
});

describe('GRPCRoute precedence (Gateway API)', () => {
  it('orders by service characters, method characters and header count, then age, name and rule order', () => {
    const rs = stamped(resources(svcs('greeter').replace(/---\n$/, '')
      + grpcRoute('b-old', `
- matches: [{ method: { service: a.Svc } }]
  backendRefs: [{ name: greeter }]
- matches: [{ method: { service: a.Svc, method: Get } }]
  backendRefs: [{ name: greeter }]
- matches: [{ method: { service: a.Svc, method: Get }, headers: [{ name: x, value: "1" }] }]
  backendRefs: [{ name: greeter }]
- matches: [{ method: { type: RegularExpression, service: "a\\\\..*" } }]
  backendRefs: [{ name: greeter }]
`)
      + grpcRoute('a-new', `
- matches: [{ method: { service: a.LongerSvc } }]
  backendRefs: [{ name: greeter }]
- matches: [{ method: { method: GetAllTheThings } }]
  backendRefs: [{ name: greeter }]
- matches: [{ headers: [{ name: y, value: "2" }] }]
  backendRefs: [{ name: greeter }]
- matches: [{ method: { service: a.Svc } }, { method: { service: b.Svc } }]
  backendRefs: [{ name: greeter }]
`)), { 'b-old': '2026-01-01T00:00:00Z', 'a-new': '2026-02-01T00:00:00Z' });
    // the identical { service: a.Svc } match makes a-new Conflicted: drop that rule for the order test
    const conflicted = routeStatuses(rs, meshServices(rs, [])).get(rs.find((r) => r.metadata.name === 'a-new') as MeshRoute) as any;
    assert.equal(conflicted.reason, 'Conflicted');
    assert.match(conflicted.message, /^spec\.rules\[3\]\.matches\[0\]: the same match on greeter\.default as default\/b-old spec\.rules\[0\]\.matches\[0\]/);
    const newer = rs.find((r) => r.metadata.name === 'a-new') as any;
    newer.spec.rules[3].matches = [{ method: { type: 'Exact', service: 'b.Svc' } }];
    const order = vhostRoutes(rs).map((r) => `${r.name} ${r.match.path ?? r.match.prefix ?? r.match.safe_regex.regex} ${r.match.headers.length - 1}`);
    assert.deepEqual(order, [
      'grpc:a-new.0 /a.LongerSvc/ 0', // 11 service characters beat 5
      'grpc:b-old.2 /a.Svc/Get 1', // then 3 method characters and one header
      'grpc:b-old.1 /a.Svc/Get 0',
      'grpc:b-old.0 /a.Svc/ 0', // equal service b.Svc: the older route first
      'grpc:a-new.3 /b.Svc/ 0',
      'grpc:a-new.1 /[^/]+/(?:GetAllTheThings) 0', // no service characters: after every service match
      'grpc:b-old.3 /(?:a\\..*)/[^/]+ 0', // regular expressions after exact matches
      'grpc:a-new.2 / 1', // no method match last
    ]);
  });
});

describe('GRPCRoute beside HTTPRoutes of the same Service', () => {
  const rs = resources(svcs('greeter', 'greeter-v1', 'greeter-v2', 'shadow').replace(/---\n$/, '') + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: same }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /helloworld.Greeter } }]
      backendRefs: [{ name: greeter-v1 }]
    - backendRefs: [{ name: greeter }]
` + grpcRoute('same', `
- matches: [{ method: { service: helloworld.Greeter } }]
  filters:
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Route, value: grpc }], remove: [x-drop] } }
    - { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-served-by, value: mesh }] } }
    - { type: RequestMirror, requestMirror: { backendRef: { name: shadow }, percent: 25 } }
  backendRefs: [{ name: greeter-v1, weight: 90 }, { name: greeter-v2, weight: 10 }]
`));

  it('keeps both accepted and puts the GRPCRoute rules (gRPC requests only) before the HTTPRoute rules', () => {
    const st = [...routeStatuses(rs, meshServices(rs, []))].map(([r, s]) => [r.kind, r.metadata.name, s.accepted]);
    assert.deepEqual(st.sort(), [['GRPCRoute', 'same', true], ['HTTPRoute', 'same', true]]);
    assert.deepEqual(vhostRoutes(rs).map((r) => r.name), ['grpc:same.0', 'same.0', 'same.1']);
  });

  it('splits by weight and applies header modifiers and mirrors as an HTTPRoute rule does', () => {
    const r = vhostRoutes(rs)[0];
    assert.deepEqual(r.route.weighted_clusters, { clusters: [{ name: 'greeter-v1.default', weight: { value: 90 } }, { name: 'greeter-v2.default', weight: { value: 10 } }] });
    assert.deepEqual(r.route.request_mirror_policies, [{ cluster: 'shadow.default', runtime_fraction: { default_value: { numerator: 250_000, denominator: 'MILLION' } } }]);
    assert.deepEqual(r.request_headers_to_add, [{ header: { key: 'x-route', value: 'grpc' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
    assert.deepEqual(r.request_headers_to_remove, ['x-drop']);
    assert.deepEqual(r.response_headers_to_add, [{ header: { key: 'x-served-by', value: 'mesh' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }]);
  });
});

describe('GRPCRoute resilience and status', () => {
  const rs = resources(svcs('greeter') + `apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: whole }
spec:
  targetRef: { kind: GRPCRoute, name: g }
  timeouts: { request: 7s }
  retries: { attempts: 4, retryOn: [unavailable] }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: same-name-httproute }
spec:
  targetRef: { kind: HTTPRoute, name: g }
  timeouts: { request: 1s }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: missing-rule }
spec:
  targetRef: { kind: GRPCRoute, name: g, sectionName: nope }
  timeouts: { request: 1s }
` + grpcRoute('g', `
- name: pay
  matches: [{ method: { service: shop.Pay } }]
  backendRefs: [{ name: greeter }]
  timeouts: { request: 3s, backendRequest: 1s }
  retry: { codes: [UNAVAILABLE, DEADLINE_EXCEEDED, UNAVAILABLE], attempts: 2, backoff: 20ms }
- backendRefs: [{ name: greeter }]
`));
  const routes = vhostRoutes(rs);

  it('sends a rule\'s timeouts and gRPC retry codes as Envoy\'s retry_on, retrying the POSTs', () => {
    const pay = routes[0];
    assert.deepEqual(pay.route.timeout, { seconds: 3 });
    assert.equal(pay.route.retry_policy.retry_on, 'connect-failure,reset,unavailable,deadline-exceeded');
    assert.deepEqual(pay.route.retry_policy.num_retries, { value: 2 });
    assert.deepEqual(pay.route.retry_policy.per_try_timeout, { seconds: 1 });
    assert.deepEqual(pay.route.retry_policy.retry_back_off, { base_interval: { seconds: 0, nanos: 20_000_000 }, max_interval: { seconds: 0, nanos: 200_000_000 } });
    assert.ok(pay.typed_per_filter_config['trellis.retry'], 'retry options travel with the policy');
  });

  it('applies a ResiliencePolicy that targets the GRPCRoute, not one for an HTTPRoute of the same name', () => {
    const rest = routes[1];
    assert.deepEqual(rest.route.timeout, { seconds: 7 });
    assert.equal(rest.route.retry_policy.retry_on, 'unavailable');
    assert.deepEqual(rest.route.retry_policy.num_retries, { value: 4 });
    const index = indexPolicies(rs, meshServices(rs, []));
    const status = new Map([...index.status].map(([p, s]) => [p.metadata.name, s as any]));
    assert.deepEqual(status.get('whole'), { accepted: true });
    assert.equal(status.get('same-name-httproute').reason, 'TargetNotFound');
    assert.match(status.get('same-name-httproute').message, /^HTTPRoute default\/g does not exist/);
    assert.match(status.get('missing-rule').message, /^GRPCRoute default\/g has no rule named nope/);
  });

  it('gives unknown parents and backends and all-zero weights their reasons', () => {
    const bad = resources(svcs('greeter').replace(/---\n$/, '')
      + grpcRoute('no-parent', '\n- backendRefs: [{ name: greeter }]', 'nowhere')
      + grpcRoute('no-backend', '\n- backendRefs: [{ name: greeter }, { name: gone }]')
      + grpcRoute('no-weight', '\n- matches: [{ method: { service: z.Z } }]\n  backendRefs: [{ name: greeter, weight: 0 }]'));
    const st = new Map([...routeStatuses(bad, meshServices(bad, []))].map(([r, s]) => [r.metadata.name, s as any]));
    assert.equal(st.get('no-parent').reason, 'ParentServiceUnknown');
    assert.match(st.get('no-backend').message, /^spec\.rules\[0\]\.backendRefs\[1\]: backend Service gone\.default does not exist/);
    assert.equal(st.get('no-weight').reason, 'AllBackendWeightsZero');
    // none of them reaches the proxies: the service keeps its catch-all
    assert.deepEqual(vhostRoutes(bad).map((r) => r.name), ['greeter.default']);
  });
});

describe('GRPCRoute for proxyless gRPC clients', () => {
  it('gives an xds:/// client the same paths, without Trellis extensions', () => {
    const rs = resources(svcs('greeter', 'greeter-v2').replace(/---\n$/, '') + grpcRoute('g', `
- matches: [{ method: { service: helloworld.Greeter, method: SayHello } }]
  backendRefs: [{ name: greeter-v2 }]
  timeouts: { request: 2s }
  retry: { codes: [UNAVAILABLE] }
- backendRefs: [{ name: greeter }]
`));
    const snap = compileSnapshot({ resources: rs, instances: [] }, nodeInfo({ service: 'client' }), ['greeter'], { proxyless: true });
    assert.ok(snap.get(typeUrls.listener)!.get('greeter'), 'an API listener for the target');
    const services = meshServices(rs, []);
    const routes = compileServiceRoutes(services.find((s) => s.key === 'greeter.default')!, routesByParent(rs, services).get('greeter.default')!, { proxyless: true }) as any[];
    assert.deepEqual(routes[0], {
      name: 'grpc:g.0', match: { path: '/helloworld.Greeter/SayHello', headers: [grpcContentType] },
      route: { cluster: 'greeter-v2.default', timeout: { seconds: 2 } },
    });
    assert.deepEqual(routes[1], { name: 'grpc:g.1', match: { prefix: '/', headers: [grpcContentType] }, route: { cluster: 'greeter.default' } });
  });
});
