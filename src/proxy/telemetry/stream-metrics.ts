// Counters of the byte streams the sidecar carries outside request/response exchanges: HTTP/1.1
// upgrades (WebSocket and others) and TCP proxying. Requests that upgrade are also counted in
// trellis_requests_total (status 101); these say what happened to the stream afterwards.
import type { MetricRegistry } from './metric-registry.js';
import { CounterFamily, GaugeFamily, type CounterCell, type GaugeCell } from './metric-families.js';
import type { PipeCounters, PipeEnd } from '../listener/byte-pipe.js';

/** Upgrade protocols get their own label value; any other token counts as `other` (a bounded set). */
export function upgradeProtocolLabel(upgrade: string | undefined): string {
  const t = (upgrade ?? '').split(',')[0].trim().toLowerCase();
  return t === 'websocket' || t === 'h2c' || t === 'tls/1.0' ? t : 'other';
}

/** The cells of one stream kind (direction × protocol or cluster), bound once. */
export class StreamCells implements PipeCounters {
  constructor(
    private readonly bytesDown: CounterCell,
    private readonly bytesUp: CounterCell,
    readonly active: GaugeCell,
    private readonly ends: (how: PipeEnd) => CounterCell,
  ) {}

  fromDownstream(n: number): void {
    this.bytesDown.value += n;
  }

  fromUpstream(n: number): void {
    this.bytesUp.value += n;
  }

  closed(how: PipeEnd): void {
    this.active.dec();
    this.ends(how).inc();
  }
}

export class StreamMetrics {
  readonly upgrades = new CounterFamily('trellis_upgrades_total',
    'HTTP/1.1 upgrade requests, by upgrade protocol and result (switched: 101 relayed; refused: the upstream answered otherwise; failed: the proxy answered an error).',
    ['direction', 'protocol', 'result']);
  readonly upgradeBytes = new CounterFamily('trellis_upgrade_bytes_total',
    'Bytes carried by upgraded connections after the 101, by the side they came from (downstream or upstream).', ['direction', 'protocol', 'from']);
  readonly upgradesActive = new GaugeFamily('trellis_upgrades_active', 'Upgraded connections open now.', ['direction', 'protocol']);
  readonly upgradeEnds = new CounterFamily('trellis_upgrade_closed_total',
    'Upgraded connections closed, by how (done, idle-timeout, downstream-reset, upstream-reset).', ['direction', 'protocol', 'reason']);
  readonly tcpConnections = new CounterFamily('trellis_tcp_connections_total',
    'TCP connections proxied as opaque byte streams, by result (forwarded, or the reason they were refused: no-healthy-upstream, upstream-connect, unauthorized, overloaded).',
    ['direction', 'cluster', 'result']);
  readonly tcpBytes = new CounterFamily('trellis_tcp_bytes_total',
    'Bytes carried by proxied TCP connections, by the side they came from (downstream or upstream).', ['direction', 'cluster', 'from']);
  readonly tcpActive = new GaugeFamily('trellis_tcp_connections_active', 'Proxied TCP connections open now.', ['direction', 'cluster']);
  readonly tcpEnds = new CounterFamily('trellis_tcp_connections_closed_total',
    'Proxied TCP connections closed, by how (done, idle-timeout, downstream-reset, upstream-reset).', ['direction', 'cluster', 'reason']);
  private readonly upgradeCells = new Map<string, StreamCells>();
  private readonly tcpCells = new Map<string, StreamCells>();

  upgradeResult(direction: string, protocol: string, result: 'switched' | 'refused' | 'failed'): void {
    this.upgrades.cell(direction, protocol, result).inc();
  }

  /** Cells of upgraded streams of one direction and protocol. */
  upgradeStream(direction: string, protocol: string): StreamCells {
    const key = `${direction}\u0000${protocol}`;
    let c = this.upgradeCells.get(key);
    if (c === undefined) {
      c = new StreamCells(
        this.upgradeBytes.cell(direction, protocol, 'downstream'), this.upgradeBytes.cell(direction, protocol, 'upstream'),
        this.upgradesActive.cell(direction, protocol), (how) => this.upgradeEnds.cell(direction, protocol, how),
      );
      this.upgradeCells.set(key, c);
    }
    return c;
  }

  tcpResult(direction: string, cluster: string, result: string): void {
    this.tcpConnections.cell(direction, cluster, result).inc();
  }

  /** Cells of TCP streams of one direction and cluster. */
  tcpStream(direction: string, cluster: string): StreamCells {
    const key = `${direction}\u0000${cluster}`;
    let c = this.tcpCells.get(key);
    if (c === undefined) {
      c = new StreamCells(
        this.tcpBytes.cell(direction, cluster, 'downstream'), this.tcpBytes.cell(direction, cluster, 'upstream'),
        this.tcpActive.cell(direction, cluster), (how) => this.tcpEnds.cell(direction, cluster, how),
      );
      this.tcpCells.set(key, c);
    }
    return c;
  }
}

const byRegistry = new WeakMap<MetricRegistry, StreamMetrics>();

/** One set per registry (one per proxy), registered on first use. */
export function streamMetricsFor(registry: MetricRegistry): StreamMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = new StreamMetrics();
    for (const f of [m.upgrades, m.upgradeBytes, m.upgradesActive, m.upgradeEnds, m.tcpConnections, m.tcpBytes, m.tcpActive, m.tcpEnds]) {
      registry.registerMetric(f);
    }
    byRegistry.set(registry, m);
  }
  return m;
}
