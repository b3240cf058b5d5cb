// What a listener that does not know its clients' protocol does with each accepted connection:
// detect (protocol-detect.ts), count the decision, then hand the socket to the handler of that
// protocol. A protocol without a handler goes to the TCP handler: its bytes still flow, opaque.
// The detecting listener of a Service port without a protocol (tcp-listener.ts) calls accept()
// with each socket, whether it accepted it or interception handed it over.
import type { Socket } from 'node:net';
import type { MetricRegistry } from '../telemetry/metric-registry.js';
import { defaultDetectTimeoutMs, detectProtocol, type DetectedProtocol, type Detection } from './protocol-detect.js';
import { detectionMetricsFor } from '../telemetry/detection-metrics.js';

/** Where the client meant to go: the listener's own address, or SO_ORIGINAL_DST after interception. */
export interface OriginalDestination {
  address: string;
  port: number;
}

/** Takes a socket after detection; the detected bytes are back on it (or in `detection.ended`). */
export type ProtocolHandler = (socket: Socket, detection: Detection, destination: OriginalDestination | null) => void;

export interface ProtocolHandlers {
  tcp: ProtocolHandler;
  tls?: ProtocolHandler;
  http1?: ProtocolHandler;
  http2?: ProtocolHandler;
}

export interface ProtocolDispatchOptions {
  handlers: ProtocolHandlers;
  /** Metric label (`outbound`, `inbound`). */
  direction: string;
  /**
   * Metric labels of the connection's destination: the service (cluster) whose port it is and the
   * port; default: no cluster and the destination's port. Bounded by the ports Services declare.
   */
  labels?: (destination: OriginalDestination | null) => { cluster: string; port: string };
  /** Read per connection, so a new config applies to the next one. */
  timeoutMs?: () => number;
  registry?: MetricRegistry;
}

export class ProtocolDispatch {
  private readonly metrics;

  constructor(private readonly opts: ProtocolDispatchOptions) {
    this.metrics = opts.registry ? detectionMetricsFor(opts.registry) : null;
  }

  /** Detects, then hands the socket on; a client that leaves before the decision is closed. */
  accept(socket: Socket, destination: OriginalDestination | null = null): void {
    const direction = this.opts.direction;
    const metrics = this.metrics;
    const labels = metrics === null ? null : this.opts.labels?.(destination) ?? { cluster: '', port: destination === null ? '' : String(destination.port) };
    socket.on('error', ignore);
    void detectProtocol(socket, {
      timeoutMs: this.opts.timeoutMs?.() ?? defaultDetectTimeoutMs,
      onOutcome: metrics === null ? undefined : (p, o) => metrics.cell(direction, labels!.cluster, labels!.port, p, o).inc(),
    }).then((d) => {
      if (d === null) return;
      this.handlerFor(d.protocol)(socket, d, destination);
    });
  }

  private handlerFor(p: DetectedProtocol): ProtocolHandler {
    const h = this.opts.handlers;
    return (p === 'tcp' ? h.tcp : h[p]) ?? h.tcp;
  }
}

function ignore(): void {}
