// Protocol detection on Service ports that declare no protocol: the client pod's sidecar binds a
// detecting listener on its pod address at each such port. HTTP/1 (curl) and h2c (curl with prior
// knowledge) are routed by Host like an http port, an HTTPRoute's filter included; TLS passes
// through opaque to the service's app; a client that says nothing meets a server-speaks-first
// banner after the MeshConfig's protocolDetectionTimeout (300ms here), counted as a timeout; a
// `tcp` port (the opaque marking) gives its banner at once even with a 10 s timeout, which reaches
// the sidecars over xDS without a restart. An app behind such a port gets each request in the
// protocol its client spoke (HTTP/1.1 stays HTTP/1.1, h2c goes as h2c), although the sidecars
// carry both over HTTP/2. 127.0.87.0/24.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Mesh, waitFor, type AppStarter, type Pod, sidecarMetric as metric } from './mesh-harness.js';

const webPort = 9000;
const securePort = 9443;
const greeterPort = 7100;
const smtpPort = 7200;
const protoPort = 9100;

const meshConfig = (timeout: string) => `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { protocolDetectionTimeout: ${timeout} }
`;

const resources = `${meshConfig('300ms')}---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ name: web, port: ${webPort}, targetPort: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: secure }
spec: { ports: [{ port: ${securePort}, targetPort: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec: { ports: [{ port: ${greeterPort}, targetPort: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: smtp }
spec: { ports: [{ port: ${smtpPort}, targetPort: 8000, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: proto }
spec: { ports: [{ port: ${protoPort}, targetPort: 8000 }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: client }
spec: { ports: [{ port: 8000, protocol: http }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ name: web }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /routed } }]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: x-route, value: routed }] }
      backendRefs: [{ name: web }]
    - backendRefs: [{ name: web }]
`;

/** A server-speaks-first app: a banner at once, then one answer per line (SMTP-like). */
function bannerApp(name: string): AppStarter {
  return async (address, port) => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.write(`220 ${name} ready\r\n`);
      s.on('data', (d: Buffer) => s.write(`250 ok ${d.toString().trim()}\r\n`));
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A TLS echo app with a self-signed certificate for `secure.test`. */
function tlsApp(dir: string): AppStarter {
  return async (address, port) => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=secure.test',
      '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore', timeout: 10_000 });
    const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** An app that answers, as JSON, who it is, the HTTP version it was spoken to in and whether it saw the sidecars' origin marker. */
function versionApp(pod: string, version: 'http1' | 'h2c'): AppStarter {
  return async (address, port) => {
    const answer = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pod, httpVersion: req.httpVersion, marker: req.headers['x-trellis-orig-proto'] ?? null }));
    };
    // an HTTP/1.1-only app, or an h2c-only one (prior knowledge, as gRPC servers are)
    const server = version === 'http1' ? http.createServer(answer) : http2.createServer(answer);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
    return () => new Promise<void>((resolve) => {
      if (server instanceof http.Server) server.closeAllConnections();
      server.close(() => resolve());
    });
  };
}

/** Connects, sends nothing, resolves with the first line the server says and how long it took. */
function firstLine(host: string, port: number, ms: number): Promise<{ line: string; elapsedMs: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    let got = '';
    const c = net.connect(port, host);
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no line from ${host}:${port} within ${ms} ms`));
    }, ms);
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (!got.includes('\n')) return;
      clearTimeout(timer);
      resolve({ line: got.slice(0, got.indexOf('\n')).trim(), elapsedMs: Date.now() - start, socket: c });
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { timeout: 15_000 }, (err, stdout, stderr) => (err ? reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

async function dump(pod: Pod): Promise<Record<string, any>> {
  return (await fetch(`http://${pod.address}:15000/config_dump`, { signal: AbortSignal.timeout(5000) })).json() as Promise<Record<string, any>>;
}

describe('protocol detection on Service ports that declare no protocol', () => {
  const mesh = new Mesh('127.0.87');
  const certDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-detect-'));
  let client: Pod;

  before(async () => {
    await mesh.startControl();
    const applied = await mesh.apply(resources);
    assert.equal(applied.code, 0, applied.stderr);
    client = await mesh.addPod('client-1', 'client');
    await mesh.addPod('web-1', 'web', {}, { app: versionApp('web-1', 'http1') });
    await mesh.addPod('secure-1', 'secure', {}, { app: tlsApp(certDir) });
    await mesh.addPod('greeter-1', 'greeter', {}, { app: bannerApp('greeter') });
    await mesh.addPod('smtp-1', 'smtp', {}, { app: bannerApp('smtp') });
    await mesh.addPod('proto-1', 'proto', {}, { app: versionApp('proto-1', 'h2c') });
    await mesh.waitInSync(20_000, 6);
    await waitFor(async () => {
      const d = await dump(client);
      const bound = (name: string) => (d.listeners as Record<string, any>[]).find((l) => l.name === name)?.bound === true;
      const endpoints = (name: string) => (d.clusters as Record<string, any>[]).find((c) => c.name === name)?.endpoints.length === 1;
      return bound(`auto|web.default|${webPort}`) && bound(`auto|proto.default|${protoPort}`) && bound(`auto|secure.default|${securePort}`) && bound(`auto|greeter.default|${greeterPort}`)
        && bound(`tcp|${smtpPort}`) && ['web', 'secure', 'greeter', 'smtp', 'proto'].every((s) => endpoints(`${s}.default`));
    }, 20_000, 'the client sidecar\'s detecting and tcp listeners, and an endpoint per service');
  });

  after(async () => {
    await mesh.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('shows the ports as auto in trellis get services', async () => {
    const r = await mesh.cli(['get', 'services']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`web\\s.*${webPort}/auto`));
    assert.match(r.stdout, new RegExp(`smtp\\s.*${smtpPort}/tcp`));
  });

  it('routes HTTP/1 (curl) by Host, with the HTTPRoute\'s filter', { timeout: 20_000 }, async () => {
    const out = await curl(['-i', '-H', 'Host: web', `http://${client.address}:${webPort}/routed/a`]);
    assert.match(out, /^HTTP\/1\.1 200/);
    assert.match(out, /^x-route: routed\r?$/m, out);
    assert.equal(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)).pod, 'web-1');
    const plain = await curl(['-i', '-H', 'Host: web:9000', `http://${client.address}:${webPort}/other`]);
    assert.match(plain, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(plain, /x-route/);
    assert.ok(await metric(client, new RegExp(`^trellis_protocol_detections_total\\{direction="outbound",cluster="web.default",port="${webPort}",protocol="http1",outcome="matched"\\}`)) >= 2);
  });

  it('routes h2c with prior knowledge (curl --http2-prior-knowledge) to an h2c app', { timeout: 20_000 }, async () => {
    const out = await curl(['--http2-prior-knowledge', '-i', '-H', 'Host: proto', '-w', '\n%{http_version}', `http://${client.address}:${protoPort}/h2`]);
    assert.match(out, /^HTTP\/2 200/);
    assert.equal(out.slice(out.lastIndexOf('\n') + 1), '2');
    assert.equal(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4, out.lastIndexOf('\n'))).pod, 'proto-1');
    assert.ok(await metric(client, new RegExp(`^trellis_protocol_detections_total\\{direction="outbound",cluster="proto.default",port="${protoPort}",protocol="http2",outcome="matched"\\}`)) >= 1);
  });

  it('gives the app behind a port without a protocol each request in its client\'s protocol', { timeout: 20_000 }, async () => {
    // through the client's outbound listener (15001) and its detecting listener alike; the sidecars carry both over HTTP/2
    for (const port of [15001, webPort]) {
      const h1 = JSON.parse(await curl(['-H', 'Host: web', '-H', 'x-trellis-orig-proto: forged', `http://${client.address}:${port}/`]));
      assert.deepEqual(h1, { pod: 'web-1', httpVersion: '1.1', marker: null }, `HTTP/1.1 stays HTTP/1.1 via ${port}, and the marker stays between the sidecars`);
    }
    for (const port of [15001, protoPort]) {
      const h2 = JSON.parse(await curl(['--http2-prior-knowledge', '-H', 'Host: proto', `http://${client.address}:${port}/`]));
      assert.deepEqual(h2, { pod: 'proto-1', httpVersion: '2.0', marker: null }, `h2c goes to the app as h2c via ${port}`);
    }
  });

  it('passes TLS through opaque to the service\'s app', { timeout: 20_000 }, async () => {
    const echoed = await new Promise<{ cn: string; data: string }>((resolve, reject) => {
      const s = tls.connect({ host: client.address, port: securePort, servername: 'secure.test', rejectUnauthorized: false }, () => {
        const cn = String(s.getPeerCertificate().subject?.CN ?? '');
        s.write('hello over tls');
        s.once('data', (d: Buffer) => {
          resolve({ cn, data: d.toString() });
          s.destroy();
        });
      });
      s.setTimeout(10_000, () => s.destroy(new Error('no TLS echo within 10 s')));
      s.on('error', reject);
    });
    assert.deepEqual(echoed, { cn: 'secure.test', data: 'hello over tls' }, 'the app\'s own certificate: the sidecar did not terminate TLS');
    assert.ok(await metric(client, new RegExp(`^trellis_protocol_detections_total\\{direction="outbound",cluster="secure.default",port="${securePort}",protocol="tls",outcome="matched"\\}`)) >= 1);
  });

  it('falls back to TCP after the detection timeout when the client says nothing (a banner server)', { timeout: 20_000 }, async () => {
    const before = await metric(client, /^trellis_protocol_detections_total\{.*cluster="greeter.default".*outcome="timeout"\}/);
    const { line, elapsedMs, socket } = await firstLine(client.address, greeterPort, 10_000);
    try {
      assert.equal(line, '220 greeter ready');
      assert.ok(elapsedMs >= 250, `the banner came only after the 300ms detection timeout (${elapsedMs} ms)`);
      // the connection is a plain TCP stream now: the app answers what the client says
      socket.write('EHLO test\r\n');
      const answer = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString().trim())));
      assert.equal(answer, '250 ok EHLO test');
    } finally {
      socket.destroy();
    }
    assert.equal(await metric(client, new RegExp(`^trellis_protocol_detections_total\\{direction="outbound",cluster="greeter.default",port="${greeterPort}",protocol="tcp",outcome="timeout"\\}`)), before + 1);
  });

  it('a tcp port skips detection: its banner comes at once, also with a 10 s timeout applied over xDS without a restart', { timeout: 30_000 }, async () => {
    const applied = await mesh.apply(meshConfig('10s'), 'mesh-10s.yaml');
    assert.equal(applied.code, 0, applied.stderr);
    await mesh.waitInSync();
    const pid = client.sidecar!.child.pid;
    await waitFor(async () => ((await dump(client)).listeners as Record<string, any>[])
      .find((l) => l.name === `auto|greeter.default|${greeterPort}`)?.detect?.timeoutMs === 10_000, 10_000, 'the 10 s timeout in the client sidecar');
    assert.equal(client.sidecar!.child.pid, pid, 'the same sidecar process');
    const { line, socket } = await firstLine(client.address, smtpPort, 5000);
    socket.destroy();
    assert.equal(line, '220 smtp ready', 'the banner arrived within 5 s, before a 10 s detection timeout could have fired');
    // the next connection to the auto port waits the new timeout: no banner within the old 300ms and more
    await assert.rejects(firstLine(client.address, greeterPort, 1500), /no line/);
  });
});
