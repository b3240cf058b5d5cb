// Starts one sidecar: data path (ProxyRuntime), admin server and the xDS client that feeds
// the runtime. Signals belong to the CLI; it calls close() (which drains) on SIGTERM.
import { createLogger, type LogLevel } from '../common/log.js';
import { ports } from '../common/ports.js';
import { trellisVersion } from '../common/version.js';
import type { NodeInfo } from '../xds/node.js';
import { AdsClient } from './xds/ads-client.js';
import { adsCredentials } from './xds/ads-credentials.js';
import { registerAdsMetrics } from './xds/ads-metrics.js';
import { AdminServer } from './admin.js';
import { TapGrantVerifier } from './telemetry/tap-grant-verifier.js';
import { tapSignerHeader } from '../xds/tap-grant.js';
import { ProxyRuntime } from './proxy-runtime.js';
import { ProxyMetrics } from './telemetry/metrics.js';
import { ProxyTelemetry } from './telemetry/request-telemetry.js';
import type { WorkloadIdentity } from './identity/workload-identity.js';
import { MeshTls } from './tls/mesh-tls.js';
import type { ProxyLimits } from './config/proxy-limits.js';

export interface StartProxyOptions {
  service: string;
  namespace?: string;
  /** ADDR:PORT of the local app; absent for an ingress. */
  app?: string;
  address?: string;
  labels?: Record<string, string>;
  /** host:port of the control plane's xDS server; several replicas comma-separated (`a:15010,b:15010`). */
  control?: string;
  stateDir?: string;
  adminPort?: number;
  outboundPort?: number;
  inboundPort?: number;
  ingressFor?: string;
  /** The services this sidecar calls; the control plane then sends only their config. Absent: every service. */
  egress?: string[];
  drainMs?: number;
  logLevel?: LogLevel;
  id?: string;
  /** Join token: with it the sidecar obtains a workload certificate; without, it runs without identity. */
  token?: string;
  /** The control plane's HTTP API that issues certificates; default: each --control host, port 15080. */
  caApi?: string;
  /** Access-log file (appended); absent: stdout. Whether lines are written at all is MeshConfig's call. */
  accessLog?: string;
  /**
   * Transparent interception (`trellis init` in this network namespace): take the connections
   * iptables redirects to 127.0.0.1:<outboundPort> and route them by their original destination.
   */
  intercept?: boolean;
  /** Header limits, timeouts, connection cap and memory guard; defaults (Envoy's) for what is absent. */
  limits?: Partial<ProxyLimits>;
  /** false: no request counts or latency histograms (measuring telemetry's cost). Default true. */
  requestMetrics?: boolean;
  /** Called once, after the first config is applied and its listeners are bound (or failed to bind). */
  onFirstConfig?: () => void;
}

export interface RunningProxy {
  /** Drains (stops accepting, lets requests in flight finish within drainMs), then stops. */
  close(): Promise<void>;
  drain(ms?: number): Promise<void>;
  runtime: ProxyRuntime;
  /** null when started without a join token (and no saved certificate). */
  identity: WorkloadIdentity | null;
  admin: { port: number };
  node: NodeInfo;
}

/** `adminPort` is the bound port (differs from opts.adminPort when that is 0). */
export function buildNodeInfo(opts: StartProxyOptions, adminPort = opts.adminPort ?? ports.proxyAdmin): NodeInfo {
  const address = opts.address ?? '127.0.0.1';
  const labels = { ...(opts.labels ?? {}) };
  return {
    id: opts.id ?? `${opts.service}-${address}`,
    service: opts.service,
    namespace: opts.namespace ?? 'default',
    address,
    inboundPort: opts.inboundPort ?? ports.proxyInbound,
    outboundPort: opts.outboundPort ?? ports.proxyOutbound,
    adminPort,
    app: opts.app ? parseHostPort(opts.app, '--app') : undefined,
    ingressFor: opts.ingressFor,
    ...(opts.egress?.length ? { egress: opts.egress } : {}),
    ...(opts.intercept ? { intercept: true } : {}),
    labels,
    zone: labels.zone ?? '',
    region: labels.region ?? '',
    version: trellisVersion(),
    startedAt: new Date().toISOString(),
  };
}

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const address = opts.address ?? '127.0.0.1';
  const id = opts.id ?? `${opts.service}-${address}`;
  const logger = createLogger('proxy', opts.logLevel ?? 'info').child({ proxy: id });
  const drainMs = opts.drainMs ?? 5000;
  const meshTls = new MeshTls();
  const runtime = new ProxyRuntime({ logger, meshTls, limits: opts.limits, metrics: new ProxyMetrics({ telemetry: new ProxyTelemetry({ accessLogPath: opts.accessLog }), requestMetrics: opts.requestMetrics }) });
  runtime.metrics.telemetry.setLocal({ service: opts.service, namespace: opts.namespace ?? 'default', proxy: id });
  let ads: AdsClient | null = null;
  let node: NodeInfo | null = null;
  // set once the identity starts (after the ADS client); every stream asks for its certificate anew
  let held: WorkloadIdentity | null = null;
  let firstConfig = opts.onFirstConfig;
  const intercept = opts.intercept ? await interceptListener(opts, address, runtime, logger) : null;
  // the admin /tap opens only with a grant signed by the control plane, whose key comes with each ADS stream
  const tapGrants = new TapGrantVerifier({ proxyId: () => id });
  const admin = new AdminServer({
    tapGrants,
    address,
    port: opts.adminPort ?? ports.proxyAdmin,
    runtime,
    xdsStatus: () => ads?.status() ?? { connected: false, server: '', ackedVersion: null, lastNack: null, lastUpdate: null, source: null },
    node: () => node,
    identity: () => identity?.describe() ?? null,
    ready: () => intercept === null || intercept.bound,
  });
  // The admin port goes into the node metadata, so bind it first (it may be ephemeral in tests).
  await admin.listen();
  node = buildNodeInfo({ ...opts, address, id }, admin.port);
  const controls = parseControlList(opts.control ?? `127.0.0.1:${ports.controlXds}`);
  ads = new AdsClient({
    servers: controls,
    node,
    stateDir: opts.stateDir,
    logger,
    metadata: adsCredentials({ token: opts.token, certificate: () => held?.current() ?? null }),
    onStreamHeaders: (headers, server) => {
      const signer = headers[tapSignerHeader];
      if (typeof signer !== 'string') return;
      try {
        const before = tapGrants.signerKeyId;
        tapGrants.learnSigner(signer);
        if (tapGrants.signerKeyId !== before) logger.info({ server, tapSigner: tapGrants.signerKeyId }, 'xds: learned the control plane\'s tap signing key');
      } catch (err) {
        logger.warn({ server, err: (err as Error).message }, 'xds: the control plane sent an unreadable tap signing key; taps stay refused');
      }
    },
    onConfig: (config, source) => {
      runtime.applyConfig(config, source);
      runtime.listening().then(
        () => logger.info({ version: config.version, source }, 'config applied'),
        (err: Error) => logger.error({ version: config.version, err: err.message }, 'config applied but a listener failed to bind'),
      ).finally(() => {
        // redirected connections are taken only once there is a route table to read them by
        if (intercept !== null && !intercept.bound) intercept.bind();
        const call = firstConfig;
        firstConfig = undefined;
        call?.();
      });
    },
  });
  registerAdsMetrics(runtime.metrics.registry, ads);
  ads.start();
  const identity = await startIdentity(opts, controls, node, logger, runtime);
  held = identity;
  if (identity) meshTls.attach(identity);
  logger.info({ admin: admin.port, control: controls }, 'proxy started');

  let closing: Promise<void> | null = null;
  const drain = (ms = drainMs) => runtime.drain(ms);
  return {
    runtime,
    admin: { port: admin.port },
    node,
    identity,
    drain,
    close() {
      closing ??= (async () => {
        identity?.close();
        meshTls.close();
        await ads?.close();
        await intercept?.close();
        await drain();
        await admin.close();
        runtime.metrics.close();
        logger.info('proxy stopped');
        logger.flush();
      })();
      return closing;
    },
  };
}

interface Interception {
  readonly bound: boolean;
  bind(): void;
  close(): Promise<void>;
}

/** The interception listener on 127.0.0.1 (where REDIRECT sends locally made connections). */
async function interceptListener(opts: StartProxyOptions, address: string, runtime: ProxyRuntime, logger: ReturnType<typeof createLogger>): Promise<Interception> {
  const port = opts.outboundPort ?? ports.proxyOutbound;
  if (address === '127.0.0.1') throw new Error('--intercept needs the pod\'s own address (--address): 127.0.0.1:' + port + ' is where iptables sends the intercepted connections');
  const { InterceptListener } = await import('./listener/intercept-listener.js');
  const { loadOriginalDstAddon } = await import('./listener/original-destination.js');
  loadOriginalDstAddon(); // fail at start-up, not at the first connection
  const listener = new InterceptListener({
    address: '127.0.0.1',
    port,
    outbound: () => runtime.httpListener('outbound'),
    tcp: (cluster, port) => runtime.tcpListenerFor(cluster, port),
    registry: runtime.metrics.registry,
    logger,
  });
  let bound = false;
  let binding: Promise<unknown> | null = null;
  return {
    get bound() {
      return bound;
    },
    bind() {
      binding ??= listener.listen().then(
        (a) => {
          bound = true;
          logger.info({ address: `${a.address}:${a.port}` }, 'interception listener bound');
        },
        (err: Error) => logger.error({ err: err.message }, 'interception listener failed to bind'),
      );
    },
    async close() {
      await binding;
      if (bound) await listener.close();
    },
  };
}

async function startIdentity(opts: StartProxyOptions, controls: string[], node: NodeInfo, logger: ReturnType<typeof createLogger>, runtime: ProxyRuntime): Promise<WorkloadIdentity | null> {
  if (!opts.token && !opts.stateDir) {
    logger.warn('no join token (--token or TRELLIS_TOKEN): running without a workload identity, plaintext only');
    return null;
  }
  // the CA API follows the replicas of --control, in the same order
  const apiUrls = opts.caApi ? [opts.caApi] : controls.map((c) => {
    const { address } = parseHostPort(c, '--control');
    return `http://${address.includes(':') ? `[${address}]` : address}:${ports.controlApi}`;
  });
  // Identity modules load only here, so a sidecar that runs without identity never holds them
  // (@peculiar/x509 loads later still, when the first CSR is made).
  const { WorkloadIdentity } = await import('./identity/workload-identity.js');
  const identity = new WorkloadIdentity({ apiUrls, token: opts.token, proxyId: node.id, service: node.service, namespace: node.namespace, stateDir: opts.stateDir, logger });
  if (!(await identity.restore()) && !opts.token) {
    // a saved certificate could have carried us; without one and without a token there is nothing to renew
    identity.close();
    logger.warn('no join token (--token or TRELLIS_TOKEN) and no saved certificate: running without a workload identity, plaintext only');
    return null;
  }
  const { registerIdentityMetrics } = await import('./identity/identity-metrics.js');
  registerIdentityMetrics(runtime.metrics.registry, identity);
  // in the background: the data path must not wait for the control plane (failures are retried)
  void identity.begin().catch((err: Error) => logger.error({ err: err.message }, 'workload identity failed'));
  return identity;
}

/** `--control a:port[,b:port...]`: each a replica's xDS address, checked, without duplicates. */
export function parseControlList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new Error('--control must name at least one ADDR:PORT');
  for (const item of list) parseHostPort(item, '--control');
  const seen = new Set<string>();
  for (const item of list) {
    if (seen.has(item)) throw new Error(`--control names ${item} twice`);
    seen.add(item);
  }
  return list;
}

function parseHostPort(s: string, what: string): { address: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  const address = i > 0 ? s.slice(0, i).replace(/^\[|\]$/g, '') : '';
  if (!address || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`${what} must be ADDR:PORT, got "${s}"`);
  return { address, port };
}
