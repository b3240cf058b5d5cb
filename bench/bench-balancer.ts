// Balancer scenario: three instances of one service, one of them slower by a fixed delay
// (+50 ms by default). The same closed-loop client load goes through a sidecar's outbound
// listener once per policy (round-robin, least-request, peak-EWMA) in the same run; the report
// gives client-side p50/p99 latency, throughput and the share of requests each instance got.
//
//   node dist/bench/bench-balancer.js [--duration S] [--connections N] [--delay MS] [--warmup S] [--repeats N]
//
// Three processes, so the proxy's event loop is its own: this one (client), a child with the
// three upstream servers, and per policy a child running ProxyRuntime with a static config.
// Addresses: 127.0.31.200-209. Children are stopped by their pid.
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LbPolicy, ProxyConfig } from '../src/proxy/config/proxy-config.js';

const addr = {
  upstreams: ['127.0.31.201', '127.0.31.202', '127.0.31.203'],
  proxy: '127.0.31.200',
};
const upstreamPort = 8080;
const proxyPort = 15001;

const policies: Array<{ label: string; policy: LbPolicy }> = [
  { label: 'round-robin', policy: { kind: 'round-robin' } },
  { label: 'least-request', policy: { kind: 'least-request', choiceCount: 2 } },
  { label: 'peak-ewma', policy: { kind: 'peak-ewma', decayMs: 10_000, defaultRttMs: 30 } },
];

type Msg = { kind: 'ready' } | { kind: 'counts'; counts: number[] } | { kind: 'error'; message: string };

// ---- child: upstreams ----------------------------------------------------------------------

async function runUpstreams(delayMs: number): Promise<void> {
  const counts = [0, 0, 0];
  const body = Buffer.alloc(100, 'x');
  const servers = addr.upstreams.map((address, i) => {
    const server = http.createServer((_req, res) => {
      counts[i]++;
      const send = (): void => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
      };
      // The last instance is the slow one.
      if (i === 2) setTimeout(send, delayMs);
      else send();
    });
    server.keepAliveTimeout = 300_000;
    return new Promise<http.Server>((resolve, reject) => {
      server.once('error', reject);
      server.listen(upstreamPort, address, () => resolve(server));
    });
  });
  await Promise.all(servers);
  process.on('message', (m: { kind: string }) => {
    if (m.kind === 'counts') {
      process.send!({ kind: 'counts', counts: [...counts] } satisfies Msg);
      counts.fill(0);
    }
  });
  process.send!({ kind: 'ready' } satisfies Msg);
}

// ---- child: sidecar -----------------------------------------------------------------------

async function runProxy(policy: LbPolicy): Promise<void> {
  const { ProxyRuntime } = await import('../src/proxy/proxy-runtime.js');
  const name = 'bench-app.default';
  const config: ProxyConfig = {
    version: '1',
    listeners: [{ name: 'outbound', address: addr.proxy, port: proxyPort, direction: 'outbound', routeConfigName: 'outbound' }],
    routes: new Map([['outbound', {
      name: 'outbound',
      virtualHosts: [{
        name: 'bench-app', domains: ['bench-app'],
        routes: [{ name: 'bench-app', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: name, weight: 1 }], timeoutMs: 0 }],
      }],
    }]]),
    clusters: new Map([[name, {
      name, connectTimeoutMs: 1000, idleTimeoutMs: 3_600_000, lbPolicy: policy,
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
      retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 },
      outlierDetection: { consecutiveFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
      edsServiceName: name,
    }]]),
    endpoints: new Map([[name, {
      clusterName: name,
      endpoints: addr.upstreams.map((address) => ({ address, port: upstreamPort, weight: 1, healthy: true, zone: '', labels: {} })),
    }]]),
  };
  const rt = new ProxyRuntime({ listenerDrainMs: 100 });
  rt.applyConfig(config, 'static');
  await rt.listening();
  process.on('SIGTERM', () => void rt.close().then(() => process.exit(0)));
  process.send!({ kind: 'ready' } satisfies Msg);
}

// ---- parent: client and report ------------------------------------------------------------

function startChild(args: string[]): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${args.join(' ')} not ready within 10 s`)), 10_000);
    child.once('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
    child.once('message', (m: Msg) => {
      clearTimeout(timer);
      if (m.kind === 'ready') resolve(child);
      else reject(new Error(m.kind === 'error' ? m.message : 'unexpected message'));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function upstreamCounts(child: ChildProcess): Promise<number[]> {
  return new Promise((resolve) => {
    child.once('message', (m: Msg) => resolve(m.kind === 'counts' ? m.counts : [0, 0, 0]));
    child.send({ kind: 'counts' });
  });
}

interface LoadResult {
  latenciesMs: number[];
  errors: number;
  seconds: number;
}

/** `connections` workers, each sending its next request when the last one ended, until `seconds` pass. */
async function load(connections: number, seconds: number, record: boolean): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latenciesMs: number[] = [];
  let errors = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const req = http.request({ host: addr.proxy, port: proxyPort, path: '/', agent, headers: { host: 'bench-app' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) errors++;
          else if (record) latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (process.hrtime.bigint() < end) await one();
  }));
  agent.destroy();
  return { latenciesMs, errors, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number`);
  return v;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const role = args[0];
  if (role === '--role-upstreams') return runUpstreams(Number(args[1]));
  if (role === '--role-proxy') return runProxy(JSON.parse(args[1]) as LbPolicy);

  const duration = flag(args, '--duration', 10);
  const connections = flag(args, '--connections', 16);
  const delay = flag(args, '--delay', 50);
  const warmup = flag(args, '--warmup', 2);
  const repeats = Math.max(1, Math.floor(flag(args, '--repeats', 3)));
  const header = [
    `balancer bench: 3 instances, the third +${delay} ms; ${connections} connections, ${warmup} s warm-up, ${duration} s measured per policy`,
    `${repeats} repeats, policies in rotating order; medians reported; load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  ];
  for (const l of header) console.log(l);
  const upstreams = await startChild(['--role-upstreams', String(delay)]);
  const runs = new Map<string, Run[]>(policies.map((p) => [p.label, []]));
  try {
    for (let rep = 0; rep < repeats; rep++) {
      // Rotating the order keeps a warming JIT or a burst of other work from always hitting one policy.
      const order = policies.map((_, i) => policies[(i + rep) % policies.length]);
      for (const { label, policy } of order) {
        const proxy = await startChild(['--role-proxy', JSON.stringify(policy)]);
        try {
          // The warm-up also lets peak-EWMA learn the instances' costs, as a long-running sidecar has.
          await load(connections, warmup, false);
          await upstreamCounts(upstreams);
          const r = await load(connections, duration, true);
          const counts = await upstreamCounts(upstreams);
          const total = counts.reduce((a, b) => a + b, 0) || 1;
          const sorted = r.latenciesMs.sort((a, b) => a - b);
          runs.get(label)!.push({
            rps: r.latenciesMs.length / r.seconds,
            p50: percentile(sorted, 50),
            p99: percentile(sorted, 99),
            shares: counts.map((c) => c / total),
            errors: r.errors,
          });
        } finally {
          await stopChild(proxy);
        }
      }
    }
  } finally {
    await stopChild(upstreams);
  }
  const rows = policies.map(({ label }) => {
    const rs = runs.get(label)!;
    const med = (f: (r: Run) => number): number => median(rs.map(f));
    return [
      label,
      String(Math.round(med((r) => r.rps))),
      med((r) => r.p50).toFixed(2),
      med((r) => r.p99).toFixed(2),
      ...[0, 1, 2].map((i) => `${(100 * med((r) => r.shares[i])).toFixed(1)}%`),
      String(rs.reduce((a, r) => a + r.errors, 0)),
    ];
  });
  const head = ['policy', 'req/s', 'p50 ms', 'p99 ms', 'fast-1', 'fast-2', `slow (+${delay} ms)`, 'errors'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const table = [
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    `load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (figures from a busy machine swing widely; compare policies within one run)`,
  ];
  for (const l of table) console.log(l);
  const out = stringFlag(args, '--out');
  if (out !== undefined) {
    const text = `# Balancer scenario, ${new Date().toISOString()}\n\n${header.join('\n')}\n\n${table.join('\n')}\n`;
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, text);
    writeFileSync(path.join(path.dirname(out), 'balancer-latest.md'), text);
    console.log(`wrote ${out}`);
  }
}

function stringFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  shares: number[];
  errors: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

main().catch((err: Error) => {
  if (process.send) process.send({ kind: 'error', message: err.message } satisfies Msg);
  console.error(err.message);
  process.exit(1);
});
