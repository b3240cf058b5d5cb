// HTTPRoute validation: RE2 regexes checked at apply time (what JavaScript would read
// differently or could backtrack on for ever is refused) and the Gateway API's filter rules,
// each error naming its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources } from '../../src/resources/validate.js';
import { checkRe2, compileRe2 } from '../../src/resources/http-route-regex.js';

test('RE2 patterns JavaScript runs the same are accepted and match whole values', () => {
  for (const p of ['/items/[0-9]+', '(?i)curl/.*', '/a(b|c)?d{2,3}', '(?P<id>[a-z]+)', '\\d+\\.\\d+', '[\\[a]x']) {
    assert.equal(checkRe2(p).ok, true, p);
  }
  assert.equal(compileRe2('/a/[0-9]+').test('/a/12'), true);
  assert.equal(compileRe2('/a/[0-9]+').test('/a/12/b'), false, 'a full match, as Envoy');
  assert.equal(compileRe2('(?i)CURL/.*').test('curl/8'), true);
  assert.equal(compileRe2('a|b').test('ab'), false, 'alternation stays inside the anchors');
});

test('what RE2 and JavaScript read differently, or could take exponential time, is refused', () => {
  const refused: [string, RegExp][] = [
    ['(a+)+$', /exponential/],
    ['(x*)*y', /exponential/],
    ['((ab)*c)*', /exponential/],
    ['(a)\\1', /backreferences/],
    ['(?=a)b', /lookaround/],
    ['(?<!a)b', /lookaround/],
    ['a(?i)b', /inline flags/],
    ['(?U)a+', /ungreedy/],
    ['[[:alpha:]]', /POSIX/],
    ['\\Aabc\\z', /JavaScript does not support/],
    ['(', /not a valid regular expression/],
    ['', /empty/],
    ['a'.repeat(1025), /longer than/],
  ];
  for (const [p, why] of refused) {
    const c = checkRe2(p);
    assert.equal(c.ok, false, p);
    if (!c.ok) assert.match(c.error, why, p);
  }
});

function errorsOf(yaml: string): string[] {
  const r = parseResources(yaml, 'r.yaml');
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

const head = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: api }]
  rules:
`;

test('bad routes are refused with their field paths', () => {
  assert.deepEqual(errorsOf(`${head}    - matches: [{ path: { type: RegularExpression, value: "(a+)+" } }]\n      backendRefs: [{ name: api }]\n`),
    ['spec.rules[0].matches[0].path.value: invalid regular expression: nests a repeated group inside a repetition, which can take exponential time in JavaScript']);
  assert.match(errorsOf(`${head}    - matches: [{ headers: [{ type: RegularExpression, name: x, value: "(?=a)" }] }]\n      backendRefs: [{ name: api }]\n`)[0],
    /^spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.value: invalid regular expression: lookaround/);
  assert.match(errorsOf(`${head}    - matches: [{ queryParams: [{ name: q, value: a }, { name: q, value: b }] }]\n      backendRefs: [{ name: api }]\n`)[0],
    /^spec\.rules\[0\]\.matches\[0\]\.queryParams\[1\]\.name: duplicate query parameter "q"/);
  assert.match(errorsOf(`${head}    - filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301 } }]\n      backendRefs: [{ name: api }]\n`)[0],
    /^spec\.rules\[0\]\.backendRefs: a rule with a RequestRedirect forwards nowhere/);
  assert.match(errorsOf(`${head}    - matches: [{ path: { type: Exact, value: /a } }]\n      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }]\n      backendRefs: [{ name: api }]\n`)[0],
    /^spec\.rules\[0\]\.filters\[0\]\.urlRewrite\.path: ReplacePrefixMatch needs PathPrefix matches, but matches\[0\] is Exact/);
  assert.match(errorsOf(`${head}    - filters: [{ type: RequestRedirect, requestRedirect: {} }, { type: URLRewrite, urlRewrite: {} }]\n`).join('\n'),
    /spec\.rules\[0\]\.filters\[0\]: RequestRedirect and URLRewrite cannot be used together/);
  assert.match(errorsOf(`${head}    - backendRefs: []\n`)[0], /^spec\.rules\[0\]\.backendRefs: needs at least one backendRef/);
  assert.match(errorsOf(`${head}    - filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 305 } }]\n`)[0], /^spec\.rules\[0\]\.filters\[0\]\.requestRedirect\.statusCode/);
  assert.match(errorsOf(`${head}    - matches: [{ method: FETCH }]\n      backendRefs: [{ name: api }]\n`)[0], /^spec\.rules\[0\]\.matches\[0\]\.method/);
  assert.match(errorsOf(`${head}    - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: "bad name", value: x }] } }]\n      backendRefs: [{ name: api }]\n`)[0],
    /^spec\.rules\[0\]\.filters\[0\]\.requestHeaderModifier\.set\[0\]\.name: must be an HTTP header name/);
});

test('ExternalService: IP addresses or DNS names, distinct ports, host names in lower case', () => {
  const errs = errorsOf(`apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec: { hosts: [Partner.Example.com], addresses: [partner.example.com, "bad name", Upper.example.com], ports: [{ port: 80 }, { port: 80 }], dnsRefreshInterval: 10ms }
`);
  assert.equal(errs.length, 5, errs.join('\n'));
  assert.match(errs.join('\n'), /spec\.hosts\[0\]: must be a DNS host name/);
  assert.match(errs.join('\n'), /spec\.addresses\[1\]: must be an IP address or a DNS host name/);
  assert.match(errs.join('\n'), /spec\.addresses\[2\]: must be an IP address or a DNS host name/);
  assert.match(errs.join('\n'), /spec\.ports\[1\]\.port: port 80 is listed twice/);
  assert.match(errs.join('\n'), /spec\.dnsRefreshInterval: must be at least 1s/);
  const good = parseResources(`apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec: { hosts: [partner.example.com], addresses: [localhost, 10.0.0.1, "::1"], ports: [{ port: 80 }, { port: 8443 }], dnsRefreshInterval: 5s }
`, 'r.yaml');
  assert.equal(good.ok, true, good.ok ? '' : good.errors.map((e) => e.message).join('; '));
});
