import { parseArgs } from 'node:util';

// `balancer` is not a wrk target: the load-balancing scenario (bench-balancer.ts), run after the others.
export const targetNames = [
  'direct', 'nginx', 'haproxy', 'trellis-1-hop', 'trellis-mesh', 'trellis-mesh-h2-upgrade', 'trellis-mesh-mtls', 'trellis-mesh-mtls-new-conn', 'trellis-mesh-mtls-new-conn-h2',
  'trellis-mesh-telemetry-off',
  'trellis-mesh-telemetry', 'h2-direct', 'h2-mesh', 'grpc-direct', 'grpc-mesh', 'balancer',
] as const;
export type TargetName = (typeof targetNames)[number];

/** Targets loaded by h2load (HTTP/2, h2c with prior knowledge) instead of wrk. */
export const h2loadTargets: readonly TargetName[] = ['h2-direct', 'h2-mesh', 'grpc-direct', 'grpc-mesh'];

export interface BenchOptions {
  /** Whole seconds of each throughput run (wrk takes no fractions). */
  readonly duration: number;
  /** Connections of the throughput run. */
  readonly connections: number;
  /** Seconds and connections of the latency run (wrk --latency). */
  readonly latencyDuration: number;
  readonly latencyConnections: number;
  /** Seconds of warm-up before each measured run. */
  readonly warmup: number;
  readonly repeats: number;
  readonly only: readonly TargetName[];
  /** 'nginx' falls back to Node when nginx is unavailable; 'node' forces the Node upstream. */
  readonly upstream: 'nginx' | 'node';
  /** Seconds and parallel connections of each new-connection run (TCP connects, mTLS handshakes). */
  readonly handshakeDuration: number;
  readonly handshakeConnections: number;
  /** h2load's connections and streams per connection in the throughput run of the HTTP/2 targets. */
  readonly h2Connections: number;
  readonly h2Streams: number;
  /** Whole seconds of an HTTP/2 target's throughput run; its latency run lasts h2LatencySeconds. */
  readonly h2Duration: number;
  /** Directory where every Trellis sidecar writes a V8 CPU profile when it stops (null = none). */
  readonly cpuProfileDir: string | null;
}

/** Seconds of an HTTP/2 target's latency run: half its throughput run, at least 2. */
export function h2LatencySeconds(o: BenchOptions): number {
  return Math.max(2, Math.round(o.h2Duration / 2));
}

export const usage = `Usage: node dist/bench/run.js [options]
  --duration S              whole seconds per throughput run (default 10)
  --connections N           connections for the throughput run (default 50)
  --latency-duration S      seconds per latency run (default half of --duration, at least 2)
  --latency-connections N   connections for the latency run (default 8)
  --warmup S                warm-up seconds before each run (default 1)
  --repeats N               interleaved repeats of the whole set (default 3)
  --only a,b                targets among ${targetNames.join(', ')}
  --upstream nginx|node     upstream server (default nginx, Node if nginx is unavailable)
  --handshake-duration S    seconds per new-connection run against the mTLS sidecar (default 5)
  --handshake-connections N connections opened in parallel in those runs (default 16)
  --h2-connections N        h2load connections in the HTTP/2 and gRPC throughput runs (default 10)
  --h2-streams N            h2load streams in flight per connection in those runs (default 10;
                            the latency run uses --latency-connections connections of 1 stream)
  --h2-duration S           whole seconds per HTTP/2 and gRPC throughput run (default half of
                            --duration, at least 2; their latency runs last half of it, at least 2)
  --cpu-prof DIR            every Trellis sidecar writes a V8 CPU profile (.cpuprofile) into DIR
                            when the bench stops it (profiling slows the sidecars: figures of such
                            a run are not comparable)`;

/** Parses argv (without node and the script); an Error carries a message for the user. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | Error {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        duration: { type: 'string' },
        connections: { type: 'string' },
        'latency-duration': { type: 'string' },
        'latency-connections': { type: 'string' },
        warmup: { type: 'string' },
        repeats: { type: 'string' },
        only: { type: 'string' },
        upstream: { type: 'string' },
        'handshake-duration': { type: 'string' },
        'handshake-connections': { type: 'string' },
        'h2-connections': { type: 'string' },
        'h2-streams': { type: 'string' },
        'h2-duration': { type: 'string' },
        'cpu-prof': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return new Error((error as Error).message);
  }
  if (values.help === true) return new Error(usage);
  const duration = positiveInt('duration', values.duration, 10);
  const connections = positiveInt('connections', values.connections, 50);
  const latencyDuration = positiveInt('latency-duration', values['latency-duration'], Math.max(2, Math.round((duration instanceof Error ? 10 : duration) / 2)));
  const latencyConnections = positiveInt('latency-connections', values['latency-connections'], 8);
  const warmup = nonNegativeInt('warmup', values.warmup, 1);
  const repeats = positiveInt('repeats', values.repeats, 3);
  const only = parseOnly(values.only);
  const handshakeDuration = positiveInt('handshake-duration', values['handshake-duration'], 5);
  const handshakeConnections = positiveInt('handshake-connections', values['handshake-connections'], 16);
  const h2Connections = positiveInt('h2-connections', values['h2-connections'], 10);
  const h2Streams = positiveInt('h2-streams', values['h2-streams'], 10);
  const h2Duration = positiveInt('h2-duration', values['h2-duration'], Math.max(2, Math.round((duration instanceof Error ? 10 : duration) / 2)));
  const upstream = values.upstream ?? 'nginx';
  if (upstream !== 'nginx' && upstream !== 'node') return new Error(`--upstream must be nginx or node, got ${upstream}`);
  for (const v of [duration, connections, latencyDuration, latencyConnections, warmup, repeats, only, handshakeDuration, handshakeConnections, h2Connections, h2Streams, h2Duration]) {
    if (v instanceof Error) return v;
  }
  return {
    duration: duration as number,
    connections: connections as number,
    latencyDuration: latencyDuration as number,
    latencyConnections: latencyConnections as number,
    warmup: warmup as number,
    repeats: repeats as number,
    only: only as TargetName[],
    upstream,
    handshakeDuration: handshakeDuration as number,
    handshakeConnections: handshakeConnections as number,
    h2Connections: h2Connections as number,
    h2Streams: h2Streams as number,
    h2Duration: h2Duration as number,
    cpuProfileDir: values['cpu-prof'] ?? null,
  };
}

function nonNegativeInt(name: string, raw: string | undefined, fallback: number): number | Error {
  const value = raw === undefined ? fallback : Number(raw);
  return Number.isInteger(value) && value >= 0 ? value : new Error(`--${name} must be an integer >= 0, got ${raw}`);
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number | Error {
  const value = raw === undefined ? fallback : Number(raw);
  return Number.isInteger(value) && value > 0 ? value : new Error(`--${name} must be a positive integer, got ${raw}`);
}

function parseOnly(raw: string | undefined): TargetName[] | Error {
  if (raw === undefined) return [...targetNames];
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = names.filter((n) => !(targetNames as readonly string[]).includes(n));
  if (unknown.length > 0) return new Error(`--only: unknown target(s) ${unknown.join(', ')}; known: ${targetNames.join(', ')}`);
  if (names.length === 0) return new Error('--only needs at least one target');
  // Keep the canonical order so runs stay interleaved the same way whatever the user typed.
  return targetNames.filter((n) => names.includes(n));
}
