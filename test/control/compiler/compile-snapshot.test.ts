import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileSnapshot, serviceForTarget } from '../../../src/control/compiler/compile-snapshot.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { unpackAny } from '../../../src/xds/any.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { instance, nodeInfo, resources } from '../helpers.js';

const rs = resources(`
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2 } }]
      backendRefs: [{ name: api }, { name: web }]
    - backendRefs: [{ name: api }]
`);
const instances = [instance({ service: 'api', address: '127.0.1.1' }), instance({ service: 'web', address: '127.0.1.2' })];
const node = nodeInfo({ service: 'web', address: '127.0.1.2' });

describe('compileSnapshot', () => {
  it('holds every type, named as docs/xds.md says', () => {
    const snap = compileSnapshot({ resources: rs, instances }, node);
    assert.deepEqual([...snap.get(typeUrls.cluster)!.keys()], ['api.default', 'web.default', 'inbound|local']);
    assert.deepEqual([...snap.get(typeUrls.clusterLoadAssignment)!.keys()], ['api.default', 'web.default']);
    // api's port 80 declares no protocol: a detecting listener (compile-detect.ts)
    assert.deepEqual([...snap.get(typeUrls.listener)!.keys()], ['outbound', 'inbound', 'auto|api.default|80']);
    assert.deepEqual([...snap.get(typeUrls.routeConfiguration)!.keys()], ['outbound']);
  });

  it('encodes every resource so that it decodes to what was compiled', () => {
    const snap = compileSnapshot({ resources: rs, instances }, node);
    const encoded = encodeSnapshot(snap);
    const routes = unpackAny(encoded.resources.get(typeUrls.routeConfiguration)!.get('outbound')!) as any;
    const api = routes.virtual_hosts.find((v: any) => v.name === 'api.default');
    assert.deepEqual(api.routes.map((r: any) => [r.name, r.match.prefix ?? r.match.path_separated_prefix]), [['api.0', '/v2'], ['api.1', '/']]);
    assert.deepEqual(api.routes[0].route.weighted_clusters.clusters, [{ name: 'api.default', weight: { value: 1 } }, { name: 'web.default', weight: { value: 1 } }]);
    const cla = unpackAny(encoded.resources.get(typeUrls.clusterLoadAssignment)!.get('api.default')!) as any;
    assert.equal(cla.endpoints[0].lb_endpoints[0].health_status, 'HEALTHY');
    const cluster = unpackAny(encoded.resources.get(typeUrls.cluster)!.get('api.default')!) as any;
    assert.equal(cluster.type, 'EDS');
    assert.equal(cluster.lb_policy ?? 'ROUND_ROBIN', 'ROUND_ROBIN');
  });

  it('hashes content: equal inputs give equal hashes, any change another', () => {
    const a = encodeSnapshot(compileSnapshot({ resources: rs, instances }, node)).hash;
    const b = encodeSnapshot(compileSnapshot({ resources: [...rs], instances: instances.map((i) => ({ ...i, connectedAt: 'later' })) }, node)).hash;
    const c = encodeSnapshot(compileSnapshot({ resources: rs, instances: [...instances, instance({ service: 'api', address: '127.0.1.3' })] }, node)).hash;
    assert.equal(a, b);
    assert.notEqual(a, c);
  });

  it('answers a proxyless client\'s target with an API listener holding that service\'s routes', () => {
    const snap = compileSnapshot({ resources: rs, instances }, node, ['api:50051', 'unknown']);
    const listeners = snap.get(typeUrls.listener)!;
    assert.ok(!listeners.has('unknown'));
    const api = listeners.get('api:50051') as any;
    const hcm = unpackAny(api.api_listener.api_listener) as any;
    assert.equal(hcm.route_config.virtual_hosts[0].routes.length, 2);
    assert.equal(hcm.http_filters[0].name, 'envoy.filters.http.router');
  });

  it('resolves target names in their short and qualified forms', () => {
    const svcs = meshServices(rs, instances);
    for (const t of ['api', 'api:80', 'api.default', 'api.default.svc', 'api.default.svc.cluster.local:8080']) {
      assert.equal(serviceForTarget(t, svcs, 'default')?.key, 'api.default', t);
    }
    assert.equal(serviceForTarget('api', svcs, 'other'), undefined);
  });
});

describe('h2UpgradePolicy: the protocol of a mesh cluster', () => {
  const upstreamProtocolOf = (extra: string): string => {
    const snap = compileSnapshot({ resources: resources(`
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: {}
${extra}`), instances }, node);
    const cluster = snap.get(typeUrls.cluster)!.get('api.default') as Record<string, any>;
    const options = unpackAny(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']) as Record<string, any>;
    if (options.use_downstream_protocol_config) return 'downstream';
    if (options.explicit_http_config?.http2_protocol_options) return 'h2';
    throw new Error(`unexpected options ${JSON.stringify(options)}`);
  };
  const meshConfig = (policy: string) => `---
apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { h2UpgradePolicy: ${policy} }
`;
  const policy = (value: string) => `---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api }
spec: { targetRef: { kind: Service, name: api }, connectionPool: { h2UpgradePolicy: ${value} } }
`;

  it('keeps each request in its own protocol by default (Istio: DO_NOT_UPGRADE)', () => {
    assert.equal(upstreamProtocolOf(''), 'downstream');
    assert.equal(upstreamProtocolOf(meshConfig('DO_NOT_UPGRADE')), 'downstream');
  });

  it('upgrades everything to HTTP/2 with MeshConfig UPGRADE', () => {
    assert.equal(upstreamProtocolOf(meshConfig('UPGRADE')), 'h2');
  });

  it("lets a Service's ResiliencePolicy override the mesh either way; DEFAULT defers to it", () => {
    assert.equal(upstreamProtocolOf(meshConfig('UPGRADE') + policy('DO_NOT_UPGRADE')), 'downstream');
    assert.equal(upstreamProtocolOf(meshConfig('DO_NOT_UPGRADE') + policy('UPGRADE')), 'h2');
    assert.equal(upstreamProtocolOf(policy('UPGRADE')), 'h2');
    assert.equal(upstreamProtocolOf(meshConfig('UPGRADE') + policy('DEFAULT')), 'h2');
  });
});
