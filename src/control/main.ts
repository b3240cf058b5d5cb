import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { openSharedIdentity } from './identity-etcd.js';
import { createLogger, type LogLevel } from '../common/log.js';
import { ports } from '../common/ports.js';
import { ApiServer } from './api/api-server.js';
import { Registry } from './registry.js';
import './store/store-file.js';
import { EtcdRegistryShare } from './registry-etcd.js';
import { EtcdStore } from './store/store-etcd.js';
import { openStore, type StoredResource } from './store/store.js';
import { AdsServer } from './xds/ads-server.js';
import type { DebounceOptions } from './xds/push-debouncer.js';
import { ControlTelemetry } from './telemetry/control-telemetry.js';
import { AdminToken } from './auth/admin-token.js';
import { ApiAuth, type ApiAuthMode } from './auth/api-auth.js';
import { XdsAuthenticator, type XdsAuthMode } from './auth/xds-auth.js';
import { JoinTokenStore } from './auth/join-token-store.js';
import { ReadTokenStore } from './auth/read-token-store.js';
import { CertificateAuthority } from './ca/ca-authority.js';
import { WorkloadIssuer } from './ca/workload-issuer.js';
import type { MeshConfig } from '../resources/mesh-config.js';
import { RolloutController } from './rollout/rollout-controller.js';
import { TapGrantSigner } from './telemetry/tap-grant-signer.js';

export interface ControlPlaneOptions {
  dataDir: string;
  /** Address both servers bind; default 127.0.0.1. */
  listen?: string;
  xdsPort?: number;
  apiPort?: number;
  /** How long a disconnected proxy's endpoints stay (as draining) before they are dropped. */
  graceMs?: number;
  logLevel?: LogLevel;
  /** `etcd://HOST:PORT[,HOST:PORT][/prefix]` to share state with other replicas; default: the file store in dataDir. */
  store?: string;
  /** Names this replica's instances in a shared registry; default derived from host and listen address. */
  replicaId?: string;
  /** An operator's CA (PEM: the CA certificate, then its issuers up to the root) instead of a generated root. */
  caCertFile?: string;
  caKeyFile?: string;
  /** With an etcd store: a file holding the passphrase that encrypts the generated CA key in etcd (every replica needs the same). */
  caKeyPassphraseFile?: string;
  /** Lifetime of workload certificates; default 24 h. */
  certTtlMs?: number;
  /** Which API requests need the admin token; default: writes only on a loopback address, everything else elsewhere. */
  apiAuth?: ApiAuthMode;
  /** required: the xDS port refuses streams without a join token or certificate proof; optional (default): admits them, logged as unauthenticated. */
  xdsAuth?: XdsAuthMode;
  /** How bursts of changes coalesce into one push; default 100 ms quiet, 1 s at most. */
  debounce?: Partial<DebounceOptions>;
  /** Where the first start announces the admin token; default stderr. */
  announce?: (line: string) => void;
}

export interface ControlPlane {
  xdsPort: number;
  apiPort: number;
  /** The file holding the admin token (0600), written on the first start. */
  adminTokenFile: string;
  close(): Promise<void>;
}

/** Starts store, registry, xDS server and HTTP API; start-up problems (a corrupt file, a busy port) reject. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = createLogger('control', opts.logLevel ?? 'info');
  const listen = opts.listen ?? '127.0.0.1';
  const store = opts.store ? await openStore(storeKind(opts.store), { url: opts.store, dataDir: opts.dataDir, logger }) : await openStore('file', { dataDir: opts.dataDir });
  const replicaId = opts.replicaId ?? `${hostname()}-${listen}-${opts.xdsPort ?? ports.controlXds}`;
  const registry = new Registry({
    dataDir: opts.dataDir,
    replicaId,
    graceMs: opts.graceMs,
    onPersistError: (err) => logger.error({ err }, 'cannot persist the registry'),
  });
  await registry.load();
  let share: EtcdRegistryShare | undefined;
  if (store instanceof EtcdStore) {
    try {
      share = await EtcdRegistryShare.start({
        client: store.client, prefix: store.prefix, registry, logger, graceMs: opts.graceMs ?? 10_000,
        replicaId,
      });
    } catch (err) {
      await registry.close();
      await store.close();
      throw new Error(`cannot share the registry in etcd: ${(err as Error).message}`);
    }
  }

  let resources: StoredResource[] = await store.list();
  // the issuer is made below; certified() is only called once streams are served
  let certified: () => ReadonlySet<string> = () => new Set();
  let revision = store.revision;
  const ads = new AdsServer({ registry, logger, resources: () => resources, revision: () => revision, certified: () => certified(), debounce: opts.debounce });
  const unsubscribeStore = store.onChange(() => {
    // read before listing: the list holds at least this revision
    const listed = store.revision;
    void store.list().then((list) => {
      resources = list;
      revision = Math.max(revision, listed);
      ads.scheduleRefresh();
    });
  });
  const unsubscribeRegistry = registry.onChange(() => ads.scheduleRefresh());
  const telemetry = new ControlTelemetry({ registry, logger, dataDir: opts.dataDir });
  // with etcd, the CA root, trust bundle, join tokens, admin token hash and issued certificates are
  // shared: a token created on one replica obtains a certificate from any, and every replica signs
  // with the same root
  const etcd = store instanceof EtcdStore ? { client: store.client, prefix: store.prefix, logger } : undefined;
  const shared = etcd ? await openSharedIdentity(etcd) : undefined;
  const passphrase = opts.caKeyPassphraseFile ? await readPassphrase(opts.caKeyPassphraseFile) : undefined;
  if (shared && !passphrase && !opts.caCertFile) logger.warn('the generated CA key is kept in etcd unencrypted: protect etcd (client TLS and auth), or give every replica --ca-key-passphrase-file');
  const ca = await CertificateAuthority.open({
    dataDir: opts.dataDir, certFile: opts.caCertFile, keyFile: opts.caKeyFile,
    shared: shared && { root: shared.caRoot, trust: shared.trust, passphrase },
  });
  // set before the xDS port is bound: every ADS stream tells its sidecar the key that signs tap grants
  const tapGrants = new TapGrantSigner(ca);
  ads.streamHeaders = () => tapGrants.streamHeaders();
  const tokens = etcd ? await JoinTokenStore.openEtcd(etcd) : await JoinTokenStore.open(opts.dataDir);
  const readTokens = etcd ? await ReadTokenStore.openEtcd(etcd) : await ReadTokenStore.open(opts.dataDir);
  const trustDomain = () => (resources.find((r) => r.kind === 'MeshConfig') as MeshConfig | undefined)?.spec.trustDomain ?? 'cluster.local';
  const issuer = new WorkloadIssuer({ ca, tokens, dataDir: opts.dataDir, trustDomain, ttlMs: opts.certTtlMs, logger, shared: shared && { issued: shared.issued, serials: shared.serials } });
  await issuer.load();
  // set before the xDS port is bound, so no stream goes unchecked
  const xdsAuth = new XdsAuthenticator({ mode: opts.xdsAuth ?? 'optional', tokens, possession: issuer });
  ads.auth = xdsAuth;
  certified = () => {
    const now = Date.now();
    return new Set(issuer.issued().filter((r) => Date.parse(r.notAfter) > now).map((r) => r.proxyId));
  };
  // a sidecar that got its first certificate is now reachable over mTLS: tell its peers
  issuer.onIssued = () => ads.scheduleRefresh();
  const admin = await AdminToken.ensure(opts.dataDir, shared?.admin);
  if (admin.created) {
    (opts.announce ?? ((line) => process.stderr.write(line)))(`trellis control: created the admin token (shown once; also in ${admin.file}, mode 0600):\n  ${admin.created}\n`);
  }
  const authMode = opts.apiAuth ?? (isLoopback(listen) ? 'writes' : 'reads');
  const auth = new ApiAuth(admin.admin, authMode, admin.file, readTokens);
  const rollouts = await RolloutController.open({
    store, dataDir: opts.dataDir, logger,
    stats: {
      scrape: () => telemetry.collector.scrapeOnce(),
      rows: (windowMs) => telemetry.collector.history.query(windowMs),
      latestRoundAt: () => telemetry.collector.history.latestAt,
    },
    registeredServices: (namespace) => registry.list().filter((i) => i.namespace === namespace).map((i) => i.service),
  });
  const api = new ApiServer({ store, registry, logger, telemetry, auth, identity: { ca, tokens, issuer }, readTokens, tapGrants, rollouts, xds: ads, replica: replicaId });

  let xdsPort: number;
  let apiPort: number;
  try {
    xdsPort = await ads.listen(listen, opts.xdsPort ?? ports.controlXds);
    apiPort = await api.listen(listen, opts.apiPort ?? ports.controlApi);
    await telemetry.start();
  } catch (err) {
    await rollouts.close();
    await telemetry.close();
    await ads.close();
    await api.close();
    await share?.close();
    await tokens.close();
    await readTokens.close();
    await shared?.close();
    await registry.close();
    await store.close();
    throw err;
  }
  logger.info({ ca: ca.signingCertificate.subject, caSource: ca.source, trustRoots: ca.trustBundle.roots().length, certTtlMs: issuer.ttlMs, apiAuth: authMode, xdsAuth: xdsAuth.mode }, 'certificate authority ready');
  logger.info({ listen, xdsPort, apiPort, dataDir: opts.dataDir, store: opts.store ?? 'file', resources: resources.length, instances: registry.list().length }, 'control plane started');

  let closing: Promise<void> | undefined;
  return {
    xdsPort,
    apiPort,
    adminTokenFile: admin.file,
    close: () => {
      closing ??= (async () => {
        unsubscribeStore();
        unsubscribeRegistry();
        await api.close();
        await rollouts.close();
        await telemetry.close();
        await ads.close();
        await share?.close();
        await tokens.close();
        await readTokens.close();
        await shared?.close();
        await registry.close();
        await store.close();
        logger.info('control plane stopped');
        logger.flush();
      })();
      return closing;
    },
  };
}

async function readPassphrase(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`--ca-key-passphrase-file ${file}: ${(err as Error).message}`);
  }
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase.length < 12) throw new Error(`--ca-key-passphrase-file ${file}: the passphrase must be at least 12 characters`);
  return passphrase;
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || address === 'localhost';
}

/** The URL's scheme names the store: `etcd://...` is the etcd store. */
function storeKind(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//.exec(url);
  if (!m) throw new Error(`invalid --store "${url}": expected etcd://HOST:PORT[,HOST:PORT]`);
  return m[1];
}
