// The authorization matrix as a table: AuthorizationPolicy documents go through the compiler, the
// wire (RBAC bytes) and the decoder into the matcher the inbound listener runs, and each case
// says what a caller (SPIFFE id, or plaintext) gets for a method and path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot } from '../../../src/control/compiler/compile-snapshot.js';
import { encodeSnapshot } from '../../../src/control/xds/encoded-snapshot.js';
import { parseResources } from '../../../src/resources/validate.js';
import { decodeResourceBytes, listenerKind } from '../../../src/proxy/xds/ads-resource-kinds.js';
import { Authorizer } from '../../../src/proxy/authz/authz-matcher.js';
import { typeUrls } from '../../../src/xds/type-urls.js';
import type { NodeInfo } from '../../../src/xds/node.js';

const node: NodeInfo = {
  id: 'api-1', service: 'api', namespace: 'shop', address: '127.0.33.20', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
  app: { address: '127.0.33.20', port: 8000 }, labels: {}, zone: '', region: '', version: 'test',
};
const id = (ns: string, svc: string) => `spiffe://cluster.local/ns/${ns}/svc/${svc}`;
const head = `apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api, namespace: shop }
`;
const policy = (name: string, body: string) => `---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: shop }
spec:
${body.replace(/^/gm, '  ')}
`;
const mesh = (def: 'allow' | 'deny') => `---
apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { defaultAuthorization: ${def} }
`;

function authorizer(yaml: string): Authorizer | null {
  const parsed = parseResources(yaml, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const bytes = encodeSnapshot(compileSnapshot({ resources: parsed.resources, instances: [] }, node)).resources.get(typeUrls.listener)!.get('inbound')!.value;
  const l = decodeResourceBytes(listenerKind, bytes);
  if (!l.ok) throw new Error(l.error);
  return l.value.authz ? new Authorizer(l.value.authz) : null;
}

type Case = [caller: string | null, method: string, path: string, allowed: boolean];

const matrix: { name: string; yaml: string; cases: Case[] }[] = [
  {
    name: 'default allow, no policy: everyone, plaintext included',
    yaml: head + mesh('allow'),
    cases: [[id('shop', 'web'), 'GET', '/', true], [null, 'DELETE', '/x', true]],
  },
  {
    name: 'default deny, no policy: nobody',
    yaml: head + mesh('deny'),
    cases: [[id('shop', 'web'), 'GET', '/', false], [null, 'GET', '/', false]],
  },
  {
    name: 'ALLOW by service: only web; with default allow the ALLOW still restricts the target',
    yaml: head + mesh('allow') + policy('web', 'targetRef: { kind: Service, name: api }\naction: ALLOW\nrules: [{ from: [{ services: [web] }] }]'),
    cases: [[id('shop', 'web'), 'GET', '/a', true], [id('shop', 'cart'), 'GET', '/a', false], [id('other', 'web'), 'GET', '/a', false], [null, 'GET', '/a', false]],
  },
  {
    name: 'DENY wins over ALLOW',
    yaml: head + policy('all', 'action: ALLOW\nrules: [{}]') + policy('no-cart', 'action: DENY\nrules: [{ from: [{ services: [cart] }] }]'),
    cases: [[id('shop', 'web'), 'POST', '/a', true], [id('shop', 'cart'), 'GET', '/a', false], [null, 'GET', '/', true]],
  },
  {
    name: 'namespace wildcard: every service of ns ops',
    yaml: head + mesh('deny') + policy('ops', 'action: ALLOW\nrules: [{ from: [{ namespaces: [ops] }] }]'),
    cases: [[id('ops', 'prom'), 'GET', '/metrics', true], [id('ops', 'anything'), 'PUT', '/x', true], [id('opsx', 'prom'), 'GET', '/', false], [id('shop', 'web'), 'GET', '/', false]],
  },
  {
    name: 'path (exact and prefix) and method rules',
    yaml: head + mesh('deny') + policy('reads', 'action: ALLOW\nrules:\n  - from: [{ identities: ["spiffe://cluster.local/ns/shop/svc/web"] }]\n    to: [{ paths: ["/api/*", "/health"], methods: [GET, HEAD] }, { paths: ["/orders"], methods: [POST] }]'),
    cases: [
      [id('shop', 'web'), 'GET', '/api/items', true], [id('shop', 'web'), 'HEAD', '/health', true], [id('shop', 'web'), 'GET', '/health/x', false],
      [id('shop', 'web'), 'DELETE', '/api/items', false], [id('shop', 'web'), 'POST', '/orders', true], [id('shop', 'web'), 'POST', '/orders?id=1', true],
      [id('shop', 'web'), 'GET', '/orders', false], [id('shop', 'cart'), 'GET', '/api/items', false],
    ],
  },
  {
    name: 'a rule without from admits plaintext callers; DENY by path for everyone',
    yaml: head + mesh('deny') + policy('public', 'action: ALLOW\nrules: [{ to: [{ paths: ["/public/*"] }] }]') + policy('no-admin', 'action: DENY\nrules: [{ to: [{ paths: ["/public/admin"] }] }]'),
    cases: [[null, 'GET', '/public/x', true], [id('shop', 'web'), 'GET', '/public/admin', false], [null, 'GET', '/private', false]],
  },
  {
    name: 'a policy for another service or namespace does not apply here',
    yaml: head + mesh('allow') + policy('other', 'targetRef: { kind: Service, name: cart }\naction: DENY\nrules: [{}]')
      + '---\napiVersion: trellis.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: elsewhere, namespace: ops }\nspec: { action: DENY, rules: [{}] }\n',
    cases: [[id('shop', 'web'), 'GET', '/', true]],
  },
];

for (const row of matrix) {
  test(`authorization matrix: ${row.name}`, () => {
    const authz = authorizer(row.yaml);
    for (const [caller, method, path, allowed] of row.cases) {
      const verdict = authz === null ? null : authz.check(caller, method, path);
      assert.equal(verdict === null, allowed, `${caller ?? 'plaintext'} ${method} ${path}: expected ${allowed ? 'allowed' : 'denied'}, got ${verdict ?? 'allowed'}`);
    }
  });
}

test('AuthorizationPolicy validation names the field and the reason', () => {
  const bad = parseResources(head + policy('bad', 'action: MAYBE\nrules: [{ from: [{ identities: ["web"] }], to: [{ paths: ["api"] }] }]'), 'bad.yaml');
  assert.equal(bad.ok, false);
  const text = JSON.stringify(bad);
  assert.match(text, /action/);
  assert.match(text, /must be ALLOW or DENY/);
  assert.match(text, /identities/);
  assert.match(text, /SPIFFE id/);
  assert.match(text, /paths/);
});
