// Transparent interception, outbound: `trellis init` makes iptables REDIRECT the app's TCP to
// 127.0.0.1:15001, and this listener takes it. The original destination (SO_ORIGINAL_DST) picks
// the path, as Envoy's virtual outbound listener does with use_original_dst:
//   - a mesh service's address and port (its virtual IP, a domain of the outbound route table) →
//     the outbound HTTP listener, which routes by Host like any outbound request;
//   - the listener itself (an app that calls 127.0.0.1:15001 directly) → the same;
//   - a service's address at one of its tcp ports → that port's outbound TCP listener (tcp_proxy);
//   - a service's address at a port that declares no protocol → that port's detecting listener,
//     which sends HTTP on to the outbound HTTP listener and the rest to tcp_proxy;
//   - a service's address on a port it does not serve → refused at once (there is nothing there);
//   - anything else → passthrough: a plain TCP connection to the original destination.
import net, { type AddressInfo, type Socket } from 'node:net';
import { isIP } from 'node:net';
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import type { Logger } from '../../common/log.js';
import type { RouteTable } from '../config/proxy-config.js';
import { CounterFamily, type CounterCell } from '../telemetry/metric-families.js';
import { originalDestination, type OriginalDestination } from './original-destination.js';

/** The part of the outbound HTTP listener interception needs. */
export interface InterceptTarget {
  readonly routeTable: RouteTable | null;
  acceptConnection(socket: Socket): void;
}

export interface InterceptListenerOptions {
  /** Where iptables REDIRECT sends locally made connections: 127.0.0.1 and the outbound port. */
  address: string;
  port: number;
  /** The outbound HTTP listener of the current config (undefined before the first config). */
  outbound: () => InterceptTarget | undefined;
  /** The outbound TCP listener of a cluster's tcp port, if the config has one. */
  tcp?: (cluster: string, port: number) => { acceptConnection(socket: Socket): void } | undefined;
  registry: MetricRegistry;
  logger?: Logger;
  /** How long a passthrough connection may take to connect. */
  connectTimeoutMs?: number;
  /** Tests inject a fake SO_ORIGINAL_DST. */
  originalDestination?: (socket: Socket) => OriginalDestination | null;
}

export class InterceptMetrics {
  readonly connections = new CounterFamily('trellis_intercepted_connections_total',
    'Connections taken by transparent interception, by path: mesh (a service address, routed by the sidecar), direct (addressed to the sidecar itself), passthrough (unknown destination, forwarded as plain TCP), refused (a service address on a port it does not serve), error (no original destination).',
    ['path']);
  readonly mesh: CounterCell = this.connections.cell('mesh');
  readonly direct: CounterCell = this.connections.cell('direct');
  readonly passthrough: CounterCell = this.connections.cell('passthrough');
  readonly refused: CounterCell = this.connections.cell('refused');
  readonly error: CounterCell = this.connections.cell('error');
  readonly passthroughFailures: CounterCell;
  private readonly failures = new CounterFamily('trellis_passthrough_connect_failures_total',
    'Passthrough connections whose original destination could not be reached.', []);

  constructor(registry: MetricRegistry) {
    this.passthroughFailures = this.failures.cell();
    registry.registerMetric(this.connections);
    registry.registerMetric(this.failures);
  }
}

export interface MeshDestinations {
  /** `ip:port` of every HTTP port of every service's virtual IP. */
  ports: ReadonlySet<string>;
  /** Each virtual IP → its service's virtual host name, which is also its cluster's name. */
  addresses: ReadonlyMap<string, string>;
}

/** What the outbound route table's domains say about the services' virtual IPs (compile-routes.ts). */
const destinationsByTable = new WeakMap<RouteTable, MeshDestinations>();

export function meshDestinations(table: RouteTable): MeshDestinations {
  let found = destinationsByTable.get(table);
  if (found === undefined) {
    const ports = new Set<string>();
    const addresses = new Map<string, string>();
    for (const vh of table.virtualHosts) {
      for (const d of vh.domains) {
        const i = d.lastIndexOf(':');
        if (isIP(d) === 4) addresses.set(d, vh.name);
        else if (i > 0 && isIP(d.slice(0, i)) === 4 && /^\d+$/.test(d.slice(i + 1))) ports.add(d);
      }
    }
    found = { ports, addresses };
    destinationsByTable.set(table, found);
  }
  return found;
}

export class InterceptListener {
  private readonly server: net.Server;
  private readonly metrics: InterceptMetrics;
  private readonly passthroughs = new Set<Socket>();
  /** Local ports of our passthrough connections: one of them arriving here again is a loop. */
  private readonly passthroughPorts = new Set<number>();
  private readonly originalDst: (socket: Socket) => OriginalDestination | null;

  constructor(private readonly opts: InterceptListenerOptions) {
    this.metrics = new InterceptMetrics(opts.registry);
    this.originalDst = opts.originalDestination ?? originalDestination;
    // the kernel already accepted the connection; pauseOnConnect keeps its bytes until a path is
    // chosen, and half-open lets a client's FIN end only its direction (the HTTP server and the
    // passthrough pipe both handle it)
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, this.onConnection);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Stops accepting; passthrough connections are cut (the HTTP side drains with its listener). */
  close(): Promise<void> {
    for (const s of this.passthroughs) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private readonly onConnection = (socket: Socket): void => {
    socket.on('error', noop);
    let dst: OriginalDestination | null;
    try {
      dst = this.originalDst(socket);
    } catch (err) {
      this.metrics.error.inc();
      this.opts.logger?.warn({ err: (err as Error).message }, 'intercepted connection without an original destination');
      socket.destroy();
      return;
    }
    if (dst !== null && this.passthroughPorts.has(socket.remotePort ?? -1)) {
      // the rules redirected the sidecar's own connection: it does not run as the excluded uid/gid
      this.metrics.error.inc();
      this.opts.logger?.error({ destination: `${dst.address}:${dst.port}` }, 'interception loop: the sidecar\'s own connection came back to it; run it as the uid/gid that trellis init excludes (--uid)');
      socket.resetAndDestroy();
      return;
    }
    const outbound = this.opts.outbound();
    if (dst === null) {
      if (outbound === undefined) return void socket.destroy();
      this.metrics.direct.inc();
      return this.toMesh(outbound, socket);
    }
    const table = outbound?.routeTable;
    const mesh = table ? meshDestinations(table) : null;
    const cluster = mesh?.addresses.get(dst.address);
    // a tcp port's listener, or the detecting listener of a port that declares no protocol
    const tcp = cluster === undefined ? undefined : this.opts.tcp?.(cluster, dst.port);
    if (tcp !== undefined) {
      this.metrics.mesh.inc();
      socket.removeListener('error', noop);
      tcp.acceptConnection(socket);
      return;
    }
    if (outbound !== undefined && mesh !== null && mesh.ports.has(`${dst.address}:${dst.port}`)) {
      this.metrics.mesh.inc();
      return this.toMesh(outbound, socket);
    }
    if (cluster !== undefined) {
      // a virtual IP exists only in the mesh: passing it through would wait for a connect timeout
      this.metrics.refused.inc();
      socket.resetAndDestroy();
      return;
    }
    this.metrics.passthrough.inc();
    this.passthrough(socket, dst);
  };

  private toMesh(outbound: InterceptTarget, socket: Socket): void {
    socket.removeListener('error', noop);
    outbound.acceptConnection(socket);
    socket.resume();
  }

  /** Plain TCP to where the app was going: the sidecar's uid is not intercepted, so this leaves. */
  private passthrough(client: Socket, dst: OriginalDestination): void {
    const upstream = net.connect({ host: dst.address, port: dst.port, family: dst.family, noDelay: true, allowHalfOpen: true });
    // each side's FIN is passed on by pipe(); the connection ends when both sides have ended
    this.passthroughs.add(client);
    let connected = false;
    let localPort = -1;
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs ?? 10_000);
    // net.connect() issues the connect on the next tick; right after it the kernel has bound the
    // local port, before any looped-back connection can be accepted (the poll phase comes later)
    const note = (p: number) => { localPort = p; };
    process.nextTick(() => this.notePort(upstream, note));
    upstream.once('connect', () => {
      this.notePort(upstream, note);
      connected = true;
      clearTimeout(timer);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      if (!connected) this.metrics.passthroughFailures.inc();
      this.opts.logger?.debug({ err: err.message, destination: `${dst.address}:${dst.port}` }, 'passthrough connection failed');
      // an unreachable destination looks to the app as it would without the mesh: a reset
      client.resetAndDestroy();
    });
    client.on('error', () => upstream.destroy());
    client.once('close', () => {
      this.passthroughs.delete(client);
      upstream.destroy();
    });
    upstream.once('close', () => {
      this.passthroughPorts.delete(localPort);
      client.destroy();
    });
  }

  private notePort(upstream: Socket, set: (port: number) => void): void {
    const port = upstream.localPort;
    if (port !== undefined && port > 0 && !this.passthroughPorts.has(port)) {
      this.passthroughPorts.add(port);
      set(port);
    }
  }
}

function noop(): void {}
