import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Mesh, waitFor, type Pod } from './mesh-harness.js';

// Mesh traffic to an ExternalService named by DNS (`localhost`, which resolves on any machine
// without a DNS server: the sidecar resolves it as STRICT_DNS with the system resolver) gets the
// mesh's treatment: a route timeout answers 504, the default retries hide a server that fails
// each first try, a second port is reached as `host:port`, and the sidecar's /metrics count the
// requests under the external service's cluster and its DNS lookups.

interface Partner { server: http.Server; port: number; seen: string[] }

/** `/slow` answers after 3 s; `/flaky/...` answers 503 to the first try of each path and 200 to the next. */
async function partner(name: string): Promise<Partner> {
  const seen: string[] = [];
  const tried = new Set<string>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    req.resume();
    const url = req.url ?? '/';
    const answer = (status: number) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pod: name, url }));
    };
    if (url.startsWith('/slow')) setTimeout(() => answer(200), 3000);
    else if (url.startsWith('/flaky/') && !tried.has(url)) {
      tried.add(url);
      answer(503);
    } else answer(200);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

describe('an ExternalService named by DNS', () => {
  const mesh = new Mesh('127.0.92', 100);
  let client: Pod;
  let main: Partner;
  let admin: Partner;

  before(async () => {
    main = await partner('main');
    admin = await partner('admin');
    await mesh.startControl();
    const applied = await mesh.apply(`
apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: partner }
spec:
  hosts: [partner.example.test]
  addresses: [localhost]
  ports: [{ port: ${main.port} }, { port: ${admin.port} }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: partner }
spec:
  parentRefs: [{ kind: ExternalService, name: partner }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 300ms }
      backendRefs: [{ kind: ExternalService, name: partner }]
    - backendRefs: [{ kind: ExternalService, name: partner }]
`);
    assert.equal(applied.code, 0, applied.stderr);
    client = await mesh.addPod('client-1', 'client');
    await mesh.waitInSync(15_000, 1);
  });
  after(async () => {
    await mesh.close();
    for (const p of [main, admin]) {
      p?.server.closeAllConnections();
      await new Promise<void>((resolve) => (p ? p.server.close(() => resolve()) : resolve()));
    }
  });

  it('reaches the server the name resolves to, and a second port as host:port', async () => {
    // the first lookup runs as the config arrives: wait for it rather than assume its timing
    const r = await waitFor(async () => {
      const reply = await mesh.request(client, 'partner.example.test', '/hello');
      return reply.status === 200 ? reply : undefined;
    }, 10_000, 'the external service to answer');
    assert.equal(JSON.parse(r.body).pod, 'main');
    const second = await waitFor(async () => {
      const reply = await mesh.request(client, `partner.example.test:${admin.port}`, '/status');
      return reply.status === 200 ? reply : undefined;
    }, 10_000, 'the second port to answer');
    assert.equal(JSON.parse(second.body).pod, 'admin');
  });

  it('answers 504 when the route timeout expires', async () => {
    const r = await mesh.request(client, 'partner.example.test', '/slow');
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-trellis-error'], 'timeout');
  });

  it('retries a failed first try: no client sees an error', async () => {
    const before = main.seen.length;
    for (let i = 0; i < 20; i++) {
      const r = await mesh.request(client, 'partner.example.test', `/flaky/${i}`);
      assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
    }
    assert.equal(main.seen.length - before, 40, 'every request was tried twice at the server');
  });

  it('counts the requests and the DNS lookups in the sidecar\'s /metrics under the external service', async () => {
    const text = await (await fetch(`http://${client.address}:15000/metrics`)).text();
    const sum = (re: RegExp) => text.split('\n').filter((l) => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    assert.ok(sum(/^trellis_requests_total\{direction="outbound",route="partner\.1",cluster="partner\.default",status_code="200"/) >= 20, 'the retried requests, answered 200');
    assert.ok(sum(/^trellis_requests_total\{direction="outbound",route="partner\.0",cluster="partner\.default",status_code="504",error="timeout"/) >= 1, 'the timed-out one');
    assert.ok(sum(/^trellis_requests_total\{direction="outbound",[^}]*cluster="partner\.default:\d+",status_code="200"/) >= 1, 'the second port\'s');
    assert.ok(sum(/^trellis_retries_total\{cluster="partner\.default",reason="retriable-status-code"\}/) >= 20);
    assert.ok(sum(/^trellis_dns_lookups_total\{cluster="partner\.default"\}/) >= 1);
    assert.equal(sum(/^trellis_dns_lookup_failures_total\{cluster="partner\.default"\}/), 0);
  });
});
