import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileClusters } from '../../../src/control/compiler/compile-clusters.js';
import { compileListeners } from '../../../src/control/compiler/compile-listeners.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { unpackAny } from '../../../src/xds/any.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { nodeInfo, resources } from '../helpers.js';

const sidecar = nodeInfo({ service: 'web', address: '127.0.1.9', app: { address: '127.0.0.1', port: 3000 } });
const ingress = nodeInfo({ service: 'ingress', address: '127.0.0.1', outboundPort: 8080, app: undefined, ingressFor: 'web' });

describe('compileListeners', () => {
  it('gives a sidecar an outbound listener on RDS and an inbound one with an inline route to its app', () => {
    const [outbound, inbound] = compileListeners(sidecar) as any[];
    assert.equal(outbound.name, 'outbound');
    assert.deepEqual(outbound.address, { socket_address: { address: '127.0.1.9', port_value: 15001 } });
    assert.equal(outbound.traffic_direction, 'OUTBOUND');
    const hcmAny = outbound.filter_chains[0].filters[0];
    assert.equal(hcmAny.name, 'envoy.filters.network.http_connection_manager');
    assert.equal(hcmAny.typed_config.type_url, typeUrls.httpConnectionManager);
    const hcm = unpackAny(hcmAny.typed_config) as any;
    assert.equal(hcm.stat_prefix, 'outbound');
    assert.equal(hcm.strip_any_host_port, true);
    assert.deepEqual(hcm.rds, { route_config_name: 'outbound', config_source: { ads: {}, resource_api_version: 'V3', config_source_specifier: 'ads' } });
    assert.deepEqual(hcm.http_filters.map((f: any) => [f.name, f.typed_config.type_url]), [['envoy.filters.http.router', typeUrls.router]]);

    assert.equal(inbound.name, 'inbound');
    assert.deepEqual(inbound.address, { socket_address: { address: '127.0.1.9', port_value: 15006 } });
    assert.equal(inbound.traffic_direction, 'INBOUND');
    const inHcm = unpackAny(inbound.filter_chains[0].filters[0].typed_config) as any;
    assert.equal(inHcm.stat_prefix, 'inbound');
    assert.equal(inHcm.route_config.name, 'inbound');
    assert.deepEqual(inHcm.route_config.virtual_hosts[0].domains, ['*']);
    assert.equal(inHcm.route_config.virtual_hosts[0].routes[0].route.cluster, 'inbound|local');
  });

  it('gives an ingress only the outbound listener, on its own port', () => {
    const listeners = compileListeners(ingress) as any[];
    assert.deepEqual(listeners.map((l) => [l.name, l.address.socket_address.port_value]), [['outbound', 8080]]);
  });
});

describe('compileClusters', () => {
  const svcs = meshServices(resources(`
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: {}
`), []);

  it('has one EDS cluster per service and the local app cluster for a sidecar', () => {
    const clusters = compileClusters(svcs, sidecar) as any[];
    assert.equal(clusters[0].name, 'api.default');
    assert.equal(clusters[0].type, 'EDS');
    assert.deepEqual(clusters[0].eds_cluster_config, { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'api.default' });
    assert.deepEqual(clusters[0].connect_timeout, { seconds: 1 });
    assert.equal(clusters[0].load_balancing_policy.policies[0].typed_extension_config.name, 'trellis.peak_ewma', 'peak-EWMA by default');
    assert.equal(clusters[1].name, 'inbound|local');
    assert.equal(clusters[1].type, 'STATIC');
    assert.deepEqual(clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 3000 });
  });

  it('gives a proxyless gRPC client plain round-robin clusters (grpc-js-xds refuses any other)', () => {
    assert.deepEqual((compileClusters(svcs, ingress, undefined, true) as any[])[0], {
      name: 'api.default', type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'api.default' },
      connect_timeout: { seconds: 1 }, lb_policy: 'ROUND_ROBIN',
    });
  });

  it('has no local cluster for an ingress', () => {
    assert.deepEqual((compileClusters(svcs, ingress) as any[]).map((c) => c.name), ['api.default']);
  });
});
