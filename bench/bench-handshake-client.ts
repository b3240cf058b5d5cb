// New connections per second against a sidecar's inbound listener, run as its own process (pinned
// beside wrk) by bench-new-connections.ts. `tls`: a full TLS 1.3 handshake per connection with a
// real mesh certificate as client certificate, ALPN as the sidecars use it, the peer's chain
// verified against the trust bundle and its SPIFFE id checked; no session is ever offered, so
// none can resume. A connection counts once the server's session ticket arrived: the server sends
// it only after it verified our certificate and Finished, so a refused client never counts.
// `tcp`: a plain TCP connect to the same listener, closed as soon as it is established.
// Prints one JSON line (NewConnectionRun) on stdout.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { spiffeIdOf } from '../src/proxy/tls/mesh-tls.js';

export interface NewConnectionRun {
  readonly mode: 'tls' | 'tcp';
  readonly seconds: number;
  readonly concurrency: number;
  /** Connections completed within the measured time. */
  readonly completed: number;
  readonly errors: number;
  /** The first few distinct error messages, for the report. */
  readonly errorKinds: readonly string[];
  /** Time from connect() to completion, over the completed connections. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Handshakes that resumed a session (must stay 0: none is offered). */
  readonly resumed: number;
  /** utime+stime of this client over the run, to tell whether it, not the sidecar, was the limit. */
  readonly clientCpuSeconds: number;
}

/** Per connection: a failure is counted and the loop goes on; a hung peer is cut after this long. */
const connectionTimeoutMs = 5000;

interface Args {
  mode: 'tls' | 'tcp';
  host: string;
  port: number;
  seconds: number;
  concurrency: number;
  sources: string[];
  cert?: string;
  key?: string;
  ca?: string;
  expectId?: string;
  alpn: string[];
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      mode: { type: 'string' }, target: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' },
      sources: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' },
      'expect-id': { type: 'string' }, alpn: { type: 'string' },
    },
  });
  const mode = values.mode;
  if (mode !== 'tls' && mode !== 'tcp') throw new Error(`--mode must be tls or tcp, got ${mode}`);
  const target = /^([\d.]+):(\d+)$/.exec(values.target ?? '');
  if (!target) throw new Error(`--target must be IPv4:PORT, got ${values.target}`);
  const seconds = Number(values.seconds ?? '5');
  const concurrency = Number(values.concurrency ?? '16');
  if (!(seconds > 0)) throw new Error(`--seconds must be positive, got ${values.seconds}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);
  const sources = (values.sources ?? '').split(',').filter((s) => s.length > 0);
  if (mode === 'tls' && (!values.cert || !values.key || !values.ca || !values['expect-id'])) {
    throw new Error('--mode tls needs --cert, --key, --ca and --expect-id');
  }
  return {
    mode, host: target[1], port: Number(target[2]), seconds, concurrency, sources,
    cert: values.cert, key: values.key, ca: values.ca, expectId: values['expect-id'],
    alpn: (values.alpn ?? 'http/1.1').split(','),
  };
}

function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function run(a: Args): Promise<NewConnectionRun> {
  // One context for every connection, as a sidecar has: the handshake is what is measured, not PEM parsing.
  const context = a.mode === 'tls'
    ? tls.createSecureContext({
      cert: readFileSync(a.cert!, 'utf8'), key: readFileSync(a.key!, 'utf8'), ca: readFileSync(a.ca!, 'utf8'),
      minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3',
    })
    : null;
  const checkPeer = (_host: string, cert: tls.PeerCertificate): Error | undefined =>
    (spiffeIdOf(cert) === a.expectId ? undefined : new Error(`peer identity ${spiffeIdOf(cert) ?? '(none)'} is not ${a.expectId}`));
  const durations: number[] = [];
  const errorKinds = new Set<string>();
  let completed = 0;
  let errors = 0;
  let resumed = 0;
  let measuring = true;
  let next = 0;
  const source = (): string | undefined => (a.sources.length === 0 ? undefined : a.sources[next++ % a.sources.length]);

  const once = (): Promise<void> => new Promise((resolve) => {
    const started = performance.now();
    let done = false;
    const finish = (error: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (measuring) {
        if (error === null) {
          completed++;
          durations.push(performance.now() - started);
        } else {
          errors++;
          if (errorKinds.size < 5) errorKinds.add(error);
        }
      }
      resolve();
    };
    const timer = setTimeout(() => finish(`no ${a.mode === 'tls' ? 'session ticket' : 'connect'} within ${connectionTimeoutMs} ms`), connectionTimeoutMs);
    let socket: net.Socket;
    if (context === null) {
      socket = net.connect({ host: a.host, port: a.port, localAddress: source(), noDelay: true }, () => finish(null));
    } else {
      // the TCP socket first: tls.connect's options have no localAddress
      const tcp = net.connect({ host: a.host, port: a.port, localAddress: source(), noDelay: true });
      const t = tls.connect({
        socket: tcp, secureContext: context, ALPNProtocols: a.alpn,
        rejectUnauthorized: true, checkServerIdentity: checkPeer, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3',
      });
      t.once('secureConnect', () => {
        if (t.alpnProtocol !== a.alpn[0]) finish(`ALPN ${String(t.alpnProtocol)}, expected ${a.alpn[0]}`);
        else if (t.isSessionReused()) resumed++;
      });
      t.once('session', () => finish(null));
      socket = t;
    }
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('close', () => finish('closed by the server before completing'));
  });

  const loop = async (): Promise<void> => {
    while (measuring) await once();
  };
  const cpuBefore = process.cpuUsage();
  const loops = Array.from({ length: a.concurrency }, loop);
  await new Promise((r) => setTimeout(r, a.seconds * 1000));
  measuring = false;
  const cpu = process.cpuUsage(cpuBefore);
  await Promise.all(loops);
  durations.sort((x, y) => x - y);
  return {
    mode: a.mode, seconds: a.seconds, concurrency: a.concurrency, completed, errors, errorKinds: [...errorKinds],
    p50Ms: percentile(durations, 0.5), p99Ms: percentile(durations, 0.99), resumed,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

try {
  const result = await run(parse(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stderr.write(`bench-handshake-client: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
