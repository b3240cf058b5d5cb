import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { certificateToPem, ecdsaP256, generateP256, newSerialNumber, privateKeyToPem, x509 } from '../../../src/control/ca/ca-crypto.js';
import { certificateFacts } from '../../../src/proxy/identity/identity-crypto.js';
import { saveIdentity } from '../../../src/proxy/identity/identity-state.js';

interface Made { pem: string; keyPem: string }

async function makeCert(opts: { serial: string; names: x509.JsonGeneralName[]; notBefore: Date; notAfter: Date }): Promise<Made> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: opts.serial, name: 'CN=workload', keys, signingAlgorithm: ecdsaP256, notBefore: opts.notBefore, notAfter: opts.notAfter,
    extensions: opts.names.length ? [new x509.SubjectAlternativeNameExtension(opts.names, true)] : [],
  });
  return { pem: certificateToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

/** What the sidecar read with @peculiar/x509 before certificateFacts moved to node:crypto. */
function peculiarFacts(pem: string): ReturnType<typeof certificateFacts> {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const spiffeId = san?.names.items.find((n) => n.type === 'url' && n.value.startsWith('spiffe://'))?.value ?? null;
  return { spiffeId, serial: cert.serialNumber, notBefore: cert.notBefore, notAfter: cert.notAfter };
}

describe('certificateFacts', () => {
  const cases: [string, Parameters<typeof makeCert>[0]][] = [
    ['a certificate as the control plane issues it', {
      serial: newSerialNumber(), names: [{ type: 'url', value: 'spiffe://cluster.local/ns/default/svc/api' }],
      notBefore: new Date(Date.UTC(2026, 5, 1, 8, 0, 0)), notAfter: new Date(Date.UTC(2026, 5, 2, 8, 0, 0)),
    }],
    ['a serial with its high bit set, other names first, a second SPIFFE id, a date after 2049', {
      serial: 'f00d0000000000000000000000000001',
      names: [{ type: 'dns', value: 'api.default' }, { type: 'url', value: 'https://x.example' }, { type: 'url', value: 'spiffe://a/ns/b/svc/c' }, { type: 'url', value: 'spiffe://a/ns/b/svc/d' }],
      notBefore: new Date(Date.UTC(2026, 0, 5, 1, 2, 3)), notAfter: new Date(Date.UTC(2051, 11, 31, 23, 59, 59)),
    }],
    ['a one-byte serial and a URI that Node quotes (a comma)', {
      serial: '05', names: [{ type: 'url', value: 'spiffe://a/ns/b/svc/c,d' }, { type: 'dns', value: 'x' }],
      notBefore: new Date(Date.UTC(2026, 10, 9, 0, 0, 0)), notAfter: new Date(Date.UTC(2026, 10, 10, 0, 0, 0)),
    }],
    ['no SPIFFE id', {
      serial: '0a0b', names: [{ type: 'dns', value: 'api.default' }],
      notBefore: new Date(Date.UTC(2026, 1, 1)), notAfter: new Date(Date.UTC(2026, 2, 1)),
    }],
    ['no subjectAltName at all', {
      serial: newSerialNumber(), names: [], notBefore: new Date(Date.UTC(2026, 1, 1)), notAfter: new Date(Date.UTC(2026, 2, 1)),
    }],
  ];
  for (const [name, opts] of cases) {
    it(`reads what @peculiar/x509 read: ${name}`, async () => {
      const { pem } = await makeCert(opts);
      assert.deepEqual(certificateFacts(pem), peculiarFacts(pem));
    });
  }

  it('throws on a text that is not a certificate', () => {
    assert.throws(() => certificateFacts('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'));
  });
});

describe('a sidecar and @peculiar/x509', () => {
  const mainJs = new URL('../../../src/proxy/main.js', import.meta.url).href;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'trellis-identity-load-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Starts a sidecar in a fresh process; what it holds, and whether @peculiar/x509 was loaded. */
  async function startInChild(stateDir: string): Promise<{ spiffeId: string | null; x509Loaded: boolean }> {
    const script = `
      import { createRequire } from 'node:module';
      const { startProxy } = await import(${JSON.stringify(mainJs)});
      const proxy = await startProxy({ service: 'web', address: '127.0.21.31', adminPort: 0, control: '127.0.0.1:9', stateDir: ${JSON.stringify(stateDir)}, logLevel: 'silent', drainMs: 10 });
      const x509Loaded = Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('@peculiar'));
      const spiffeId = proxy.identity?.current()?.spiffeId ?? null;
      await proxy.close();
      process.stdout.write(JSON.stringify({ spiffeId, x509Loaded }));
      process.exit(0);
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    return JSON.parse(stdout) as { spiffeId: string | null; x509Loaded: boolean };
  }

  it('is not loaded without a join token and without a saved certificate', async () => {
    assert.deepEqual(await startInChild(path.join(dir, 'empty')), { spiffeId: null, x509Loaded: false });
  });

  it('is not loaded to restore a saved certificate that is not yet due for renewal', async () => {
    const stateDir = path.join(dir, 'saved');
    const now = Date.now();
    const cert = await makeCert({
      serial: newSerialNumber(), names: [{ type: 'url', value: 'spiffe://cluster.local/ns/default/svc/web' }],
      notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000),
    });
    await saveIdentity(stateDir, { certificatePem: cert.pem, chainPems: [], trustBundlePems: [cert.pem], keyPem: cert.keyPem });
    assert.deepEqual(await startInChild(stateDir), { spiffeId: 'spiffe://cluster.local/ns/default/svc/web', x509Loaded: false });
  });
});
