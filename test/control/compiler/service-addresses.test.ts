import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocateServiceAddresses, ipv4ToInt } from '../../../src/control/compiler/service-addresses.js';
import { meshServices } from '../../../src/control/compiler/mesh-services.js';
import { parseResources } from '../../../src/resources/validate.js';
import { CompileCache } from '../../../src/control/compiler/compile-cache.js';
import { indexMesh } from '../../../src/control/compiler/mesh-index.js';
import { compileProxySnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import { nodeInfo } from '../helpers.js';

describe('allocateServiceAddresses', () => {
  it('gives every service a distinct usable address of the CIDR, the same on every call', () => {
    const services = Array.from({ length: 200 }, (_, i) => ({ key: `svc-${i}.default` }));
    const a = allocateServiceAddresses(services, '10.200.128.0/24');
    assert.equal(a.size, 200);
    assert.equal(new Set(a.values()).size, 200, 'no address twice');
    for (const ip of a.values()) {
      const n = ipv4ToInt(ip) - ipv4ToInt('10.200.128.0');
      assert.ok(n >= 1 && n <= 254, `${ip} is inside the CIDR and neither its network nor broadcast address`);
    }
    assert.deepEqual(allocateServiceAddresses([...services].reverse(), '10.200.128.0/24'), a, 'independent of the order given');
  });

  it('keeps pinned addresses, the older Service winning a duplicate pin', () => {
    const a = allocateServiceAddresses([
      { key: 'b.default', pinned: '10.200.128.7', createdAt: '2026-01-02T00:00:00Z' },
      { key: 'a.default', pinned: '10.200.128.7', createdAt: '2026-01-01T00:00:00Z' },
      { key: 'c.default' },
    ], '10.200.128.0/29');
    assert.equal(a.get('a.default'), '10.200.128.7');
    assert.notEqual(a.get('b.default'), '10.200.128.7');
    assert.equal(new Set(a.values()).size, 3);
  });

  it('does not move an older service when a newer one hashes onto its address', () => {
    // a /30 has two usable addresses: whichever two services come first keep theirs
    const old = [{ key: 'x.default', createdAt: '2026-01-01T00:00:00Z' }, { key: 'y.default', createdAt: '2026-01-02T00:00:00Z' }];
    const before = allocateServiceAddresses(old, '10.200.128.0/30');
    const after = allocateServiceAddresses([...old, { key: 'z.default', createdAt: '2026-01-03T00:00:00Z' }], '10.200.128.0/30');
    assert.equal(after.get('x.default'), before.get('x.default'));
    assert.equal(after.get('y.default'), before.get('y.default'));
    assert.equal(after.has('z.default'), false, 'a full CIDR leaves the newest without one');
  });

  it('takes the CIDR from the MeshConfig and a pin from spec.clusterIP', () => {
    const r = parseResources(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { serviceCidr: 10.200.240.0/20 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8080 }], clusterIP: 10.200.240.9 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 8080 }] }
`, 'mesh.yaml');
    assert.ok(r.ok, JSON.stringify(r));
    const svcs = meshServices(r.resources, []);
    assert.equal(svcs.find((s) => s.name === 'api')!.address, '10.200.240.9');
    const web = ipv4ToInt(svcs.find((s) => s.name === 'web')!.address!);
    assert.ok(web > ipv4ToInt('10.200.240.0') && web < ipv4ToInt('10.200.255.255'));
  });

  it('refuses a bad CIDR or clusterIP naming the field', () => {
    const bad = parseResources(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { serviceCidr: 10.96.0.0/31 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { clusterIP: api.local }
`, 'mesh.yaml');
    assert.ok(!bad.ok);
    const text = JSON.stringify(bad);
    assert.match(text, /spec\.serviceCidr/);
    assert.match(text, /spec\.clusterIP/);
  });
});

describe('virtual IPs in the pushed route table', () => {
  it('follow a changed serviceCidr or clusterIP through the compile cache shared across passes', () => {
    const docs = (cidr: string, pin: string) => parseResources(`apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { serviceCidr: ${cidr} }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8080 }], clusterIP: ${pin} }
`, 'mesh.yaml');
    const cache = new CompileCache();
    const node = nodeInfo({ service: 'web' });
    const domains = (cidr: string, pin: string) => {
      const r = docs(cidr, pin);
      assert.ok(r.ok);
      const snap = compileProxySnapshot(indexMesh({ resources: r.resources, instances: [] }, cache), node);
      const table = snap.get(typeUrls.routeConfiguration)!.get('outbound')!;
      return (table.virtual_hosts as Array<{ name: string; domains: string[] }>).find((v) => v.name === 'api.default')!.domains;
    };
    assert.deepEqual(domains('10.200.240.0/20', '10.200.240.9').slice(-2), ['10.200.240.9', '10.200.240.9:8080']);
    assert.deepEqual(domains('10.200.240.0/20', '10.200.240.10').slice(-2), ['10.200.240.10', '10.200.240.10:8080']);
  });
});
