// The GRPCRoute schema: what Gateway API accepts, refused with the file, document, line and field
// path of the problem, as every kind is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources, type ResourceError } from '../../src/resources/validate.js';
import type { GRPCRoute } from '../../src/resources/grpc-route.js';

const doc = (rules: string, extra = ''): string => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ name: greeter }]${extra}
  rules:
${rules.replace(/^\n/, '').replace(/^/gm, '    ')}
`;

function parsed(text: string): GRPCRoute {
  const r = parseResources(text, 'g.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.resources[0] as GRPCRoute;
}

function refusedAt(text: string, path: string, message: RegExp, line?: number): ResourceError {
  const r = parseResources(text, 'g.yaml');
  assert.equal(r.ok, false, 'expected the document to be refused');
  const errs = r.ok ? [] : r.errors;
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `expected an error at ${path}, got ${JSON.stringify(errs.map((e) => [e.path, e.message]))}`);
  assert.match(hit.message, message);
  assert.equal(hit.resource, 'GRPCRoute/g');
  assert.equal(hit.source, 'g.yaml');
  if (line !== undefined) assert.equal(hit.line, line);
  return hit;
}

describe('GRPCRoute schema', () => {
  it('accepts the Gateway API form and fills its defaults (Exact, weight 1, a match-all rule)', () => {
    const r = parsed(doc(`
- name: hello
  matches:
    - method: { service: helloworld.Greeter, method: SayHello }
      headers: [{ name: x-canary, value: "yes" }]
    - method: { type: RegularExpression, service: "helloworld\\\\..*", method: "Say.*" }
    - method: { method: SayGoodbye }
    - headers: [{ type: RegularExpression, name: X-Env, value: "dev|test" }]
  filters:
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: "1" }] } }
    - { type: ResponseHeaderModifier, responseHeaderModifier: { remove: [x-b] } }
    - { type: RequestMirror, requestMirror: { backendRef: { name: shadow }, percent: 10 } }
  backendRefs: [{ name: greeter-v1, weight: 90 }, { name: greeter-v2, weight: 10 }]
  timeouts: { request: 5s, backendRequest: 1s }
  retry: { codes: [UNAVAILABLE, RESOURCE_EXHAUSTED], attempts: 2, backoff: 50ms }
- backendRefs: [{ name: greeter }]
`, '\n  hostnames: [greeter.example.com, "*.example.com"]'));
    const [hello, rest] = r.spec.rules;
    assert.equal(hello.matches[0].method?.type, 'Exact');
    assert.equal(hello.matches[0].headers?.[0].type, 'Exact');
    assert.equal(hello.matches[1].method?.type, 'RegularExpression');
    assert.deepEqual(rest.matches, [{}]);
    assert.equal(rest.backendRefs[0].weight, 1);
    assert.equal(r.spec.parentRefs[0].kind, 'Service');
    assert.equal(r.metadata.namespace, 'default');
  });

  it('accepts JSON as well', () => {
    const json = JSON.stringify([{
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'g' },
      spec: { parentRefs: [{ name: 'greeter' }], rules: [{ matches: [{ method: { service: 'a.B' } }], backendRefs: [{ name: 'greeter' }] }] },
    }]);
    const r = parseResources(json, 'g.json');
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  });

  it('needs a service or a method in a method match', () => {
    const hit = refusedAt(doc(`
- matches: [{ method: { type: Exact } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method', /one or both of 'service' or 'method' must be specified/, 7);
    assert.equal(hit.document, 1);
    refusedAt(doc(`
- matches: [{ method: { service: "" } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method.service', /must not be empty/);
  });

  it('checks Exact service and method names as Gateway API does', () => {
    refusedAt(doc(`
- matches: [{ method: { service: "hello/world", method: SayHello } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method.service', /gRPC service name/);
    refusedAt(doc(`
- matches: [{ method: { service: a.B, method: "Say.Hello" } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method.method', /gRPC method name/);
    // the service check ignores case and allows a leading dot, as the CRD's (?i)\\.? does
    parsed(doc(`
- matches: [{ method: { service: .Pkg_1.Svc, method: _m9 } }]
  backendRefs: [{ name: greeter }]
`));
  });

  it('refuses a regular expression RE2 would not run the same, naming the field', () => {
    refusedAt(doc(`
- matches: [{ method: { type: RegularExpression, service: "(a)\\\\1" } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method.service', /invalid regular expression/);
    refusedAt(doc(`
- matches: [{ method: { type: RegularExpression, method: "Get(" } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method.method', /invalid regular expression/);
    refusedAt(doc(`
- matches: [{ headers: [{ type: RegularExpression, name: x, value: "(?=a)" }] }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].headers[0].value', /invalid regular expression/);
    // inline flags are fine alone, but not once the two parts are joined into one path pattern
    refusedAt(doc(`
- matches: [{ method: { type: RegularExpression, service: "a.B", method: "(?i)get" } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].method', /path pattern/);
  });

  it('refuses duplicate header names, repeated header modifiers and HTTPRoute-only filters', () => {
    refusedAt(doc(`
- matches: [{ method: { service: a.B }, headers: [{ name: X-A, value: "1" }, { name: x-a, value: "2" }] }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches[0].headers[1].name', /duplicate header "x-a"/);
    refusedAt(doc(`
- filters:
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: a, value: "1" }] } }
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: b, value: "2" }] } }
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].filters', /RequestHeaderModifier filter cannot be repeated/);
    refusedAt(doc(`
- filters: [{ type: URLRewrite, urlRewrite: { hostname: x } }]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].filters[0].type', /RequestHeaderModifier, ResponseHeaderModifier, RequestMirror or ExtensionRef/);
  });

  it('refuses a rule without backends, bad weights, unknown fields and a duplicate rule name', () => {
    refusedAt(doc(`
- matches: [{ method: { service: a.B } }]
`), 'spec.rules[0].backendRefs', /expected array|Required|at least one/i);
    refusedAt(doc(`
- backendRefs: [{ name: greeter, weight: -1 }]
`), 'spec.rules[0].backendRefs[0].weight', /./);
    refusedAt(doc(`
- backendRefs: [{ name: greeter }]
  sessionPersistence: { type: Cookie }
`), 'spec.rules[0]', /sessionPersistence/);
    refusedAt(doc(`
- name: a
  backendRefs: [{ name: greeter }]
- name: a
  backendRefs: [{ name: greeter }]
`), 'spec.rules[1].name', /unique/);
  });

  it('refuses retry codes Envoy cannot retry on and a per-try timeout above the request timeout', () => {
    refusedAt(doc(`
- backendRefs: [{ name: greeter }]
  retry: { codes: [UNAVAILABLE, NOT_FOUND] }
`), 'spec.rules[0].retry.codes[1]', /must be one of CANCELLED, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, UNAVAILABLE/, 8);
    refusedAt(doc(`
- backendRefs: [{ name: greeter }]
  timeouts: { request: 1s, backendRequest: 2s }
`), 'spec.rules[0].timeouts.backendRequest', /must not be longer than timeouts.request/);
  });

  it('refuses hostnames that are IP addresses or not host names, and too many matches', () => {
    refusedAt(doc(`
- backendRefs: [{ name: greeter }]
`, '\n  hostnames: [10.0.0.1]'), 'spec.hostnames[0]', /not an IP address/);
    refusedAt(doc(`
- backendRefs: [{ name: greeter }]
`, '\n  hostnames: ["foo.*.com"]'), 'spec.hostnames[0]', /DNS host name/);
    const nine = Array.from({ length: 9 }, (_, i) => `{ method: { service: s${i}.A } }`).join(', ');
    refusedAt(doc(`
- matches: [${nine}]
  backendRefs: [{ name: greeter }]
`), 'spec.rules[0].matches', /8/);
  });
});
