import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatResourceError, parseResources } from '../../src/resources/validate.js';

const service = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8000, protocol: http }] }
`;

describe('parseResources', () => {
  it('reads several YAML documents and fills defaults', () => {
    const r = parseResources(`${service}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: shop }
spec:
  parentRefs: [{ name: api }]
  rules: [{ backendRefs: [{ name: api-v1, weight: 999 }, { name: api-v2, weight: 1 }] }]
---
apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
`, 'f.yaml');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.equal(r.resources.length, 3);
    assert.equal(r.resources[0].metadata.namespace, 'default');
    const route = r.resources[1];
    assert.equal(route.kind, 'HTTPRoute');
    if (route.kind === 'HTTPRoute') {
      assert.deepEqual(route.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/' } }]);
      assert.equal(route.spec.parentRefs[0].kind, 'Service');
    }
    const mesh = r.resources[2];
    if (mesh.kind === 'MeshConfig') assert.equal(mesh.spec.mtls.mode, 'permissive');
  });

  it('reads a JSON array', () => {
    const r = parseResources(JSON.stringify([{ apiVersion: 'trellis.dev/v1alpha1', kind: 'Service', metadata: { name: 'a' }, spec: {} }]), 'x.json');
    assert.ok(r.ok);
    if (r.ok && r.resources[0].kind === 'Service') assert.deepEqual(r.resources[0].spec.ports, [{ port: 80, protocol: 'auto' }]);
  });

  it('names the file, document, line, resource and field of each error', () => {
    const r = parseResources(`${service}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs:
        - name: api-v1
          weight: -1
`, 'routes.yaml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors.length, 1);
    const e = r.errors[0];
    assert.equal(e.document, 2);
    assert.equal(e.line, 14);
    assert.equal(e.path, 'spec.rules[0].backendRefs[0].weight');
    assert.match(formatResourceError(e), /^routes\.yaml: document 2 \(line 14\) HTTPRoute\/split: spec\.rules\[0\]\.backendRefs\[0\]\.weight: /);
  });

  it('rejects unknown kinds, wrong apiVersions, unknown fields, bad names and duplicates', () => {
    const cases: [string, RegExp][] = [
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n', /kind: unknown kind "Pod"/],
      ['apiVersion: v1\nkind: Service\nmetadata: {name: a}\n', /apiVersion: Service lives under apiVersion trellis\.dev\/v1alpha1/],
      ['apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n', /spec: Unrecognized key: "portz"/],
      ['apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: Bad_Name}\n', /metadata\.name: must be a DNS-1123 label/],
      [`${service}---\n${service}`, /document 2 .*metadata\.name: duplicate of document 1/],
      ['kind: [unclosed\n', /invalid YAML/],
      ['', /no resources found/],
      ['[{"kind": ', /invalid JSON/],
    ];
    for (const [text, re] of cases) {
      const r = parseResources(text, 'bad.yaml');
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.errors.map(formatResourceError).join('\n'), re);
    }
  });
});
