import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOutboundRoutes, parseDurationMs } from '../../../src/control/compiler/compile-routes.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { httpRoutes, routeStatus } from '../../../src/control/compiler/route-status.js';
import type { Resource } from '../../../src/resources/kinds.js';
import { instance, nodeInfo, resources } from '../helpers.js';

const services = (...names: string[]): string => names.map((n) => `
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: ${n} }
spec: {}
`).join('---');

const canary = resources(services('api', 'api-v1', 'api-v2') + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: b-split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs: [{ name: api-v1, weight: 90 }, { name: api-v2, weight: 10 }]
      timeouts: { request: 1500ms }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: a-paths }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v1 } }, { path: { type: Exact, value: /health } }]
      backendRefs: [{ name: api-v1 }]
    - matches: [{ path: { type: PathPrefix, value: /v1/items } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: trellis.dev, kind: RateLimit, name: slow } }]
      backendRefs: [{ name: api-v2, weight: 0 }, { name: api-v1, weight: 5 }]
`);

// The routes without the default resilience every route carries (test/control/compiler/compile-resilience.test.ts covers it).
function plain(route: Record<string, any>): Record<string, any> {
  const { retry_policy: _r, ...action } = route.route;
  const out: Record<string, any> = { ...route, route: action };
  if (out.typed_per_filter_config) {
    const { 'trellis.retry': _t, ...rest } = out.typed_per_filter_config;
    if (Object.keys(rest).length) out.typed_per_filter_config = rest;
    else delete out.typed_per_filter_config;
  }
  return out;
}

function vhost(config: Record<string, unknown>, name: string): Record<string, any> {
  const found = (config.virtual_hosts as Record<string, any>[]).find((v) => v.name === name);
  assert.ok(found, `virtual host ${name}`);
  return found;
}

describe('compileOutboundRoutes', () => {
  const node = nodeInfo({ service: 'web' });

  it('gives a service without HTTPRoutes one catch-all route to itself', () => {
    const config = compileOutboundRoutes(meshServices(resources(services('db')), []), [], node);
    assert.equal(config.name, 'outbound');
    const db = vhost(config, 'db.default');
    const vip = meshServices(resources(services('db')), [])[0].address!;
    assert.match(vip, /^10\.96\.\d+\.\d+$/, 'a virtual IP from the default service CIDR');
    assert.deepEqual({ ...db, routes: db.routes.map(plain) }, {
      name: 'db.default',
      domains: ['db', 'db.default', 'db.default.svc', 'db.default.svc.cluster.local', vip, `${vip}:80`],
      routes: [{ name: 'db.default', match: { prefix: '/' }, route: { cluster: 'db.default' } }],
    });
    assert.equal(db.routes[0].route.retry_policy.num_retries.value, 2, 'the default retries');
  });

  it('orders exact paths first, then longer prefixes (whole segments: path_separated_prefix), then by route name', () => {
    const config = compileOutboundRoutes(meshServices(canary, []), canary, node);
    const routes = vhost(config, 'api.default').routes as Record<string, any>[];
    assert.deepEqual(routes.map((r) => [r.name, r.match]), [
      ['a-paths.0', { path: '/health' }],
      ['a-paths.1', { path_separated_prefix: '/v1/items' }],
      ['a-paths.0', { path_separated_prefix: '/v1' }],
      ['b-split.0', { prefix: '/' }],
    ]);
  });

  it('splits by weight, sets timeouts and carries ExtensionRefs as typed_per_filter_config', () => {
    const routes = vhost(compileOutboundRoutes(meshServices(canary, []), canary, node), 'api.default').routes as Record<string, any>[];
    const split = plain(routes.find((r) => r.name === 'b-split.0')!);
    assert.deepEqual(split.route, {
      weighted_clusters: { clusters: [{ name: 'api-v1.default', weight: { value: 90 } }, { name: 'api-v2.default', weight: { value: 10 } }] },
      timeout: { seconds: 1, nanos: 500_000_000 },
    });
    const items = routes.find((r) => r.match.path_separated_prefix === '/v1/items')!;
    assert.deepEqual(items.route.weighted_clusters.clusters.map((c: any) => [c.name, c.weight.value]), [['api-v2.default', 0], ['api-v1.default', 5]]);
    assert.deepEqual(Object.keys(items.typed_per_filter_config), ['trellis.extension/slow', 'trellis.retry']);
    assert.equal(items.typed_per_filter_config['trellis.extension/slow'].type_url, 'type.googleapis.com/trellis.dev.RateLimit');
    assert.equal(items.typed_per_filter_config['trellis.extension/slow'].value.length, 0);
    const single = plain(routes.find((r) => r.match.path_separated_prefix === '/v1')!);
    assert.deepEqual(single.route, { cluster: 'api-v1.default' });
    assert.equal(single.typed_per_filter_config, undefined);
  });

  it('adds the ingress virtual host last for a node with ingressFor', () => {
    const ingress = nodeInfo({ service: 'ingress', app: undefined, ingressFor: 'api' });
    const config = compileOutboundRoutes(meshServices(canary, []), canary, ingress);
    const hosts = config.virtual_hosts as Record<string, any>[];
    const last = hosts[hosts.length - 1];
    assert.equal(last.name, 'ingress');
    assert.deepEqual(last.domains, ['*']);
    assert.deepEqual(last.routes, vhost(config, 'api.default').routes);
  });

  it('gives the bare service name only to services of the node\'s namespace', () => {
    const rs = resources(services('db') + `---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: db, namespace: other }
spec: {}
`);
    const config = compileOutboundRoutes(meshServices(rs, []), rs, node);
    assert.deepEqual(vhost(config, 'db.other').domains.slice(0, 3), ['db.other', 'db.other.svc', 'db.other.svc.cluster.local']);
    assert.ok(!vhost(config, 'db.other').domains.includes('db'));
    assert.ok(vhost(config, 'db.default').domains.includes('db'));
  });

  it('leaves out routes that are not accepted', () => {
    const rs = resources(services('api') + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: broken }
spec:
  parentRefs: [{ name: api }]
  rules: [{ backendRefs: [{ name: nowhere }] }]
`);
    const routes = vhost(compileOutboundRoutes(meshServices(rs, []), rs, node), 'api.default').routes.map(plain);
    assert.deepEqual(routes, [{ name: 'api.default', match: { prefix: '/' }, route: { cluster: 'api.default' } }]);
  });
});

describe('routeStatus', () => {
  const route = (parent: string, backends: string): Resource[] => resources(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: ${parent} }]
  rules: [{ backendRefs: ${backends} }]
`);

  it('accepts a route whose services exist, registered ones included', () => {
    const [r] = httpRoutes(route('api', '[{ name: api-v1 }]'));
    const svcs = meshServices(resources(services('api')), [instance({ service: 'api-v1' })]);
    assert.deepEqual(routeStatus(r, svcs), { accepted: true });
  });

  it('names an unknown parent or backend, and all-zero weights', () => {
    const svcs = meshServices(resources(services('api', 'api-v1')), []);
    assert.equal((routeStatus(httpRoutes(route('nope', '[{ name: api-v1 }]'))[0], svcs) as any).reason, 'ParentServiceUnknown');
    const backend = routeStatus(httpRoutes(route('api', '[{ name: gone }]'))[0], svcs);
    assert.deepEqual(backend, { accepted: false, reason: 'BackendServiceUnknown', message: 'spec.rules[0].backendRefs[0]: backend Service gone.default does not exist' });
    assert.equal((routeStatus(httpRoutes(route('api', '[{ name: api-v1, weight: 0 }]'))[0], svcs) as any).reason, 'AllBackendWeightsZero');
  });
});

describe('parseDurationMs', () => {
  it('reads every unit', () => {
    assert.deepEqual(['250ms', '10s', '2m', '1h'].map(parseDurationMs), [250, 10_000, 120_000, 3_600_000]);
    assert.throws(() => parseDurationMs('5 s'));
  });
});
