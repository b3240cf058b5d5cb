import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileEndpoints } from '../../../src/control/compiler/compile-endpoints.js';
import { meshServices, serviceMembers } from '../../../src/control/compiler/mesh-services.js';
import { fromStruct } from '../../../src/xds/node.js';
import { instance, resources } from '../helpers.js';

const rs = resources(`
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api-v1 }
spec: { selector: { app: api, version: v1 } }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: {}
`);

const v1a = instance({ service: 'api', address: '127.0.1.2', labels: { version: 'v1' }, zone: 'b' });
const v1b = instance({ service: 'api', address: '127.0.1.1', labels: { version: 'v1' }, zone: 'a' });
const v1c = instance({ service: 'api', address: '127.0.1.3', labels: { version: 'v1' }, zone: 'a', state: 'draining' });
const v2 = instance({ service: 'api', address: '127.0.1.4', labels: { version: 'v2' }, zone: 'a' });
const otherNs = instance({ service: 'api', namespace: 'other', address: '127.0.1.5', labels: { version: 'v1' } });
const web = instance({ service: 'web', address: '127.0.1.6' });
const ingress = instance({ service: 'api', address: '127.0.1.7', app: undefined, labels: { version: 'v1' } });
const all = [v1a, v1b, v1c, v2, otherNs, web, ingress];

describe('service membership', () => {
  const svc = (key: string) => meshServices(rs, all).find((s) => s.key === key)!;

  it('knows Service resources and names registered without one', () => {
    assert.deepEqual(meshServices(rs, all).map((s) => s.key), ['api-v1.default', 'api.default', 'api.other', 'web.default']);
  });

  it('without a selector holds the instances registered under the name, in its namespace', () => {
    assert.deepEqual(serviceMembers(svc('api.default'), all).map((i) => i.address).sort(), ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4', '127.0.1.7']);
  });

  it('with a selector holds the instances whose labels (with app) match', () => {
    assert.deepEqual(serviceMembers(svc('api-v1.default'), all).map((i) => i.address).sort(), ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.7']);
  });
});

describe('compileEndpoints', () => {
  it('groups by locality, weights localities by size, marks draining ones, carries labels, skips app-less instances', () => {
    const svc = meshServices(rs, all).find((s) => s.key === 'api-v1.default')!;
    const cla = compileEndpoints(svc, all) as any;
    assert.equal(cla.cluster_name, 'api-v1.default');
    assert.deepEqual(cla.endpoints.map((l: any) => [l.locality, l.load_balancing_weight.value, l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)]), [
      [{ region: 'r1', zone: 'a' }, 2, ['127.0.1.1', '127.0.1.3']],
      [{ region: 'r1', zone: 'b' }, 1, ['127.0.1.2']],
    ]);
    const [first, second] = cla.endpoints[0].lb_endpoints;
    assert.deepEqual(first.endpoint.address.socket_address, { address: '127.0.1.1', port_value: 15006 });
    assert.equal(first.health_status, 'HEALTHY');
    assert.equal(second.health_status, 'DRAINING');
    assert.deepEqual(first.load_balancing_weight, { value: 1 });
    assert.deepEqual(fromStruct(first.metadata.filter_metadata.trellis), { version: 'v1', app: 'api' });
  });

  it('is empty for a service with no instances', () => {
    const svc = meshServices(rs, []).find((s) => s.key === 'api.default')!;
    assert.deepEqual(compileEndpoints(svc, []), { cluster_name: 'api.default', endpoints: [] });
  });

  it('treats restored instances as serving', () => {
    const svc = meshServices(rs, []).find((s) => s.key === 'api.default')!;
    const cla = compileEndpoints(svc, [{ ...v2, state: 'restored', connected: false }]) as any;
    assert.equal(cla.endpoints[0].lb_endpoints[0].health_status, 'HEALTHY');
  });
});
