// `trellis-mesh-mtls`: the mesh path of `trellis-mesh` with identities, in its own control plane
// (MeshConfig mtls strict) so `trellis-mesh` in the same run stays the plaintext baseline: wrk →
// sidecar `bench-client` outbound ⇒ mTLS (workload certificates from the control plane's CA,
// obtained with join tokens) ⇒ sidecar `bench-app` inbound → upstream. Before it is measured the
// path must prove it is mTLS: the app sidecar counts inbound handshakes and refuses plaintext.
// The `trellis-mesh-mtls-new-conn*` targets run on the same sidecars (a connection per request,
// bench-target-trellis-mtls-new-conn.ts).
// It also prepares what the new-connection runs need (bench-new-connections.ts): a certificate
// of its own for `bench-client`, obtained like a sidecar's, and the app sidecar's inbound listener.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchAddresses, clientServiceName, meshServiceName, upstreamBodyBytes } from './bench-addresses.js';
import type { BenchChild } from './bench-children.js';
import { ControlApi } from './bench-control-api.js';
import { expectStatus, expectUpstreamBody, httpGet, pollHttp } from './bench-http-probe.js';
import type { NewConnectionSetup } from './bench-new-connections.js';
import { counter, inboundHandshakes, outboundHandshakes, waitIdentity } from './bench-sidecar-admin.js';
import type { TargetName } from './bench-options.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';
import { newConnResources, startNewConnTargets } from './bench-target-trellis-mtls-new-conn.js';
import { exitedProblem, startSidecar, waitReady } from './bench-target-trellis.js';
import { ports } from '../src/common/ports.js';
import { newKeyAndCsr } from '../src/proxy/identity/identity-crypto.js';
import { meshAlpn } from '../src/proxy/tls/mesh-tls.js';

const name = 'trellis-mesh-mtls' as const;

export interface MtlsWanted {
  readonly mesh: boolean;
  /** The `trellis-mesh-mtls-new-conn*` targets wanted. */
  readonly newConn: ReadonlySet<TargetName>;
}

export interface MtlsTargets {
  readonly targets: StartedTarget[];
  /** What the new-connection runs need, or why they cannot run. */
  readonly newConnections: NewConnectionSetup | { readonly skipped: string };
}

const resources = `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: strict }
${newConnResources(meshServiceName)}`;

/**
 * The path is mTLS and nothing else: requests went through inbound TLS handshakes made by the
 * client sidecar, and a plaintext request to the inbound listener is refused (strict).
 */
async function provesMtls(a: typeof benchAddresses.mtls): Promise<string | null> {
  const inbound = await counter(a.appPod, inboundHandshakes);
  const outbound = await counter(a.clientPod, outboundHandshakes);
  if (inbound < 1 || outbound < 1) return `the mesh path answered but made no mTLS handshake (inbound ${inbound}, outbound ${outbound})`;
  const plain = await httpGet(`http://${a.appPod}:${ports.proxyInbound}/`, null, 2000);
  if (!(plain instanceof Error)) return `the inbound listener answered plaintext with ${plain.status}: strict mode is not in force`;
  return null;
}

/** A certificate for `service` obtained as a sidecar obtains one (own key, CSR, join token); PEM files in dir. */
async function clientCertificate(api: ControlApi, service: string, dir: string): Promise<{ certFile: string; keyFile: string; caFile: string } | Error> {
  const token = await api.joinToken(service);
  if (token instanceof Error) return token;
  const { keyPem, csrPem } = await newKeyAndCsr(`${service}.default`);
  const r = await api.post('/api/v1/certificates', JSON.stringify({ proxyId: 'bench-handshake-client', service, csr: csrPem }), 'application/json', token);
  const b = r.body as { certificatePem?: string; chainPems?: string[]; trustBundlePems?: string[] };
  if (r.status !== 200 || typeof b.certificatePem !== 'string') return new Error(`certificate for ${service}: ${r.status} ${JSON.stringify(r.body)}`);
  const files = { certFile: join(dir, 'client-cert.pem'), keyFile: join(dir, 'client-key.pem'), caFile: join(dir, 'trust-bundle.pem') };
  writeFileSync(files.certFile, [b.certificatePem, ...(b.chainPems ?? [])].join('\n'));
  writeFileSync(files.keyFile, keyPem, { mode: 0o600 });
  writeFileSync(files.caFile, (b.trustBundlePems ?? []).join('\n'));
  return files;
}

export async function startTrellisMtlsTargets(ctx: BenchContext, upstream: Upstream, wanted: MtlsWanted): Promise<MtlsTargets> {
  const skip = (reason: string): MtlsTargets => ({
    targets: [...(wanted.mesh ? [{ name, skipped: reason }] : []), ...[...wanted.newConn].map((n) => ({ name: n, skipped: reason }))],
    newConnections: { skipped: `the mTLS mesh did not start: ${reason}` },
  });
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli', 'main.js');
  const dir = join(ctx.tmpDir, 'trellis-mtls');
  mkdirSync(dir, { recursive: true });
  const a = benchAddresses.mtls;
  const control = ctx.children.spawn('trellis-control-mtls', process.execPath,
    [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', a.control], { cpus: ctx.loadCpus, output: 'log' });
  const apiUrl = `http://${a.control}:${ports.controlApi}`;
  const up = await pollHttp(`${apiUrl}/api/v1/health`, null, 30_000, expectStatus(200), () => (control.isRunning() ? null : `control exited: ${control.logTail(5)}`));
  if (up !== null) return skip(`control plane did not start: ${up}`);
  const api = ControlApi.ofDataDir(apiUrl, join(dir, 'control'));
  const applied = await api.post('/api/v1/resources', resources, 'application/yaml');
  if (applied.status >= 300) return skip(`MeshConfig refused: ${applied.status} ${JSON.stringify(applied.body)}`);

  const app = `${upstream.host}:${upstream.port}`;
  const xds = `${a.control}:${ports.controlXds}`;
  const sidecars: [BenchChild, string][] = [];
  for (const [service, address] of [[meshServiceName, a.appPod], [clientServiceName, a.clientPod]] as const) {
    const token = await api.joinToken(service);
    if (token instanceof Error) return skip(token.message);
    sidecars.push([startSidecar(ctx, cli, dir, service, address, app, xds, ['--token', token]), address]);
  }
  const ids: string[] = [];
  for (const [sc, address] of sidecars) {
    const ready = await waitReady(ctx, sc, address, control);
    if (ready !== null) return skip(`sidecar ${sc.name} not ready: ${ready}`);
    const id = await waitIdentity(address);
    if (id instanceof Error) return skip(id.message);
    ids.push(id);
  }
  const [appSidecar, clientSidecar] = [sidecars[0][0], sidecars[1][0]];
  const url = `http://${a.clientPod}:${ports.proxyOutbound}/`;
  const problem = await pollHttp(url, meshServiceName, 20_000, expectUpstreamBody(upstreamBodyBytes),
    () => exitedProblem(clientSidecar, control) ?? exitedProblem(appSidecar, control));
  if (problem !== null) return skip(`mesh path does not work: ${problem}`);
  const notMtls = await provesMtls(a);
  if (notMtls !== null) return skip(notMtls);

  const targets: StartedTarget[] = [];
  if (wanted.mesh) {
    targets.push({
      name, url, hostHeader: meshServiceName, hops: 2, proxyPids: [clientSidecar.pid, appSidecar.pid], baseline: 'trellis-mesh',
      note: `mTLS strict between the sidecars (${ids[1]} → ${ids[0]}, TLS 1.3, ALPN ${meshAlpn.join(',')}); compare with trellis-mesh (plaintext) in the same run`,
    });
  }
  targets.push(...await startNewConnTargets({
    addresses: a, url, proxyPids: [clientSidecar.pid, appSidecar.pid], exited: () => exitedProblem(clientSidecar, control), baseline: name,
  }, wanted.newConn));
  const certs = await clientCertificate(api, clientServiceName, dir);
  const sources = Array.from({ length: a.handshakeSources }, (_, i) => `${a.handshakeSourceBase}${a.handshakeSourceFirst + i}`);
  return {
    targets,
    newConnections: certs instanceof Error ? { skipped: certs.message } : {
      host: a.appPod, port: ports.proxyInbound, ...certs, expectId: ids[0], alpn: meshAlpn, sources, sidecarPids: [appSidecar.pid],
    },
  };
}
