// Measures the sidecar's xDS client alone: RSS once idle after its first config, and the time to
// that config, against a grpc-js ADS server serving a realistic snapshot. The client runs in a
// child process that loads nothing but AdsClient (and the logger), so the figure is what the
// client adds to a sidecar. Usage: node dist/bench/xds-client-memory.js [--runs N]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const serverHost = '127.0.20.200';
const settleMs = 3000;

interface ChildResult {
  firstConfigMs: number;      // from client.start()
  sinceProcessStartMs: number; // from the process's time origin, module loading included
  rssMb: number;
  heapUsedMb: number;
  listeners: number;
  clusters: number;
}

async function child(server: string, withPino: boolean): Promise<void> {
  // Imported here so that the parent's grpc-js never loads in this process.
  const { AdsClient } = await import('../src/proxy/xds/ads-client.js');
  // pino alone costs ~7 MB; the no-op logger shows what the client itself adds.
  const logger = withPino ? (await import('../src/common/log.js')).createLogger('xds', 'warn') : noopLogger();
  const started = performance.now();
  const client = new AdsClient({
    servers: [server],
    logger,
    node: {
      id: 'web-bench', service: 'web', namespace: 'default', address: '127.0.20.9', inboundPort: 15006, outboundPort: 15001, adminPort: 15000,
      app: { address: '127.0.20.9', port: 8080 }, labels: { version: 'v1' }, zone: 'z1', region: 'r1', version: 'bench',
    },
    onConfig: (config) => {
      const firstConfigMs = performance.now() - started;
      const sinceProcessStartMs = performance.now();
      setTimeout(() => {
        // With --expose-gc, shows how much of the idle RSS is garbage not yet collected.
        (globalThis as { gc?: () => void }).gc?.();
        const mem = process.memoryUsage();
        const result: ChildResult = {
          firstConfigMs, sinceProcessStartMs, rssMb: mem.rss / 2 ** 20, heapUsedMb: mem.heapUsed / 2 ** 20,
          listeners: config.listeners.length, clusters: config.clusters.size,
        };
        process.stdout.write(`${JSON.stringify(result)}\n`);
        void client.close().then(() => process.exit(0));
      }, settleMs);
    },
  });
  client.start();
  setTimeout(() => {
    process.stderr.write('no config within 15 s\n');
    process.exit(1);
  }, 15_000).unref();
}

function noopLogger(): any {
  const noop = () => {};
  const l: any = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => l, level: 'silent' };
  return l;
}

function runChild(server: string, nodeFlags: string[], withPino: boolean): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...nodeFlags, fileURLToPath(import.meta.url), '--child', server, withPino ? 'pino' : 'noop'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim()) as ChildResult);
      } catch (err) {
        reject(err);
      }
    });
  });
}

function bareNodeRssMb(): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', `setTimeout(() => console.log(process.memoryUsage().rss / 2 ** 20), ${settleMs})`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    p.on('error', reject);
    p.on('exit', () => resolve(Number(out.trim())));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function parent(runs: number): Promise<void> {
  const { AdsTestServer } = await import('../test/proxy/xds/ads-test-server.js');
  const { webSnapshot } = await import('../test/proxy/xds/xds-fixtures.js');
  const server = await AdsTestServer.start(serverHost, webSnapshot(), '1');
  try {
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) bare.push(await bareNodeRssMb());
    console.log(`bare node ${process.version}: RSS ${median(bare).toFixed(1)} MB (median of ${runs})`);
    for (const [flags, withPino] of [[[], true], [['--max-semi-space-size=1'], true], [[], false], [['--max-semi-space-size=1'], false], [['--expose-gc'], true]] as [string[], boolean][]) {
      const results: ChildResult[] = [];
      for (let i = 0; i < runs; i++) results.push(await runChild(server.address, flags, withPino));
      const r0 = results[0];
      console.log(
        `AdsClient ${withPino ? '+ pino logger' : '+ no-op logger'}, ${flags.join(' ') || 'no flags'}: RSS idle after first config ${median(results.map((r) => r.rssMb)).toFixed(1)} MB ` +
        `[${results.map((r) => r.rssMb.toFixed(1)).join(', ')}], heap used ${median(results.map((r) => r.heapUsedMb)).toFixed(1)} MB, ` +
        `first config ${median(results.map((r) => r.firstConfigMs)).toFixed(0)} ms after start() ` +
        `(${median(results.map((r) => r.sinceProcessStartMs)).toFixed(0)} ms after process start); ` +
        `${r0.listeners} listeners, ${r0.clusters} clusters; median of ${runs}`,
      );
    }
  } finally {
    await server.stop();
  }
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await child(args[1], args[2] !== 'noop');
} else {
  const i = args.indexOf('--runs');
  await parent(i >= 0 ? Number(args[i + 1]) : 3);
}
