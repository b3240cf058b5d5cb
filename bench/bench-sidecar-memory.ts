// Measures the memory of one real sidecar started through the CLI (shared/DESIGN.md §4) against a
// real control plane: RSS once idle after its first config, the peak under a short wrk load
// through its inbound listener, and RSS after the load. Issue 2's target: < 60 MB idle,
// < 100 MB under load. Each run starts a fresh sidecar; the table shows every run and the medians.
// Usage: node dist/bench/bench-sidecar-memory.js [--runs 3] [--load-seconds 5] [--settle-ms 5000]
//        [--connections 16] [--node-arg FLAG]... (e.g. --node-arg=--max-semi-space-size=1 to try a V8 flag)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChildren, type BenchChild } from './bench-children.js';
import { expectStatus, expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import { readRssBytes } from './bench-proc.js';
import { RssPeakSampler } from './bench-rss-sampler.js';
import { median } from './bench-stats.js';
import { findExecutable } from './bench-tools.js';
import { runWrk } from './bench-wrk.js';
import { ports } from '../src/common/ports.js';

// Its own loopback addresses, so it can run beside the main bench (127.0.40.0/24) and the tests.
const addr = { control: '127.0.21.200', pod: '127.0.21.201', upstream: '127.0.21.202' } as const;
const upstreamPort = 8080;
const bodyBytes = 100;
const readyTimeoutMs = 30_000;
const service = 'mem-app';

interface Options {
  runs: number;
  loadSeconds: number;
  settleMs: number;
  connections: number;
  nodeArgs: string[];
}

interface RunResult {
  idleMb: number;
  loadPeakMb: number;
  afterMb: number;
  /** VmHWM: the process's all-time peak, start-up included. */
  hwmMb: number;
  requestsPerSecond: number | null;
  errors: number | null;
  problem: string | null;
}

const mb = (bytes: number | null) => (bytes ?? 0) / 2 ** 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function parseOptions(argv: string[]): Options {
  const o: Options = { runs: 3, loadSeconds: 5, settleMs: 5000, connections: 16, nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--runs': o.runs = positive(value(), flag); break;
      case '--load-seconds': o.loadSeconds = positive(value(), flag); break;
      case '--settle-ms': o.settleMs = positive(value(), flag); break;
      case '--connections': o.connections = positive(value(), flag); break;
      case '--node-arg': o.nodeArgs.push(value()); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

function positive(v: string | undefined, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer`);
  return n;
}

function startUpstream(): Promise<Server> {
  const body = Buffer.alloc(bodyBytes, 'x');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': bodyBytes });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(upstreamPort, addr.upstream, () => resolve(server));
  });
}

/** VmHWM of /proc/<pid>/status, in bytes. */
function readHwmBytes(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Median of a few samples a quarter second apart: one sample may catch a GC in progress. */
async function steadyRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(readRssBytes(pid) ?? 0);
    await sleep(250);
  }
  return median(samples) ?? 0;
}

async function oneRun(children: BenchChildren, cli: string, dir: string, control: BenchChild, wrk: string, o: Options, run: number): Promise<RunResult> {
  const sidecar = children.spawn(`sidecar-${run}`, process.execPath, [
    ...o.nodeArgs, cli, 'proxy', '--service', service, '--app', `${addr.upstream}:${upstreamPort}`, '--address', addr.pod,
    '--control', `${addr.control}:${ports.controlXds}`, '--state-dir', join(dir, `state-${run}`), '--log-level', 'warn',
  ], { cpus: null, output: 'log' });
  const failed = (problem: string): RunResult => ({ idleMb: 0, loadPeakMb: 0, afterMb: 0, hwmMb: 0, requestsPerSecond: null, errors: null, problem });
  try {
    const exited = () => (!sidecar.isRunning() ? `sidecar exited: ${sidecar.logTail(5)}` : !control.isRunning() ? `control plane exited: ${control.logTail(5)}` : null);
    const ready = await pollHttp(`http://${addr.pod}:${ports.proxyAdmin}/ready`, null, readyTimeoutMs, expectStatus(200), exited);
    if (ready !== null) return failed(`not ready: ${ready}; log: ${sidecar.logTail(3)}`);
    const url = `http://${addr.pod}:${ports.proxyInbound}/`;
    const path = await pollHttp(url, null, readyTimeoutMs, expectUpstreamBody(bodyBytes), exited);
    if (path !== null) return failed(`inbound path does not work: ${path}`);
    await sleep(o.settleMs);
    const idle = await steadyRss(sidecar.pid);
    const sampler = new RssPeakSampler([sidecar.pid]);
    const load = await runWrk(children, wrk, null, { url, hostHeader: null, connections: o.connections, seconds: o.loadSeconds, latency: false });
    const peak = sampler.stop();
    await sleep(o.settleMs);
    const after = await steadyRss(sidecar.pid);
    const hwm = readHwmBytes(sidecar.pid);
    return {
      idleMb: mb(idle), loadPeakMb: mb(peak), afterMb: mb(after), hwmMb: mb(hwm),
      requestsPerSecond: load instanceof Error ? null : load.requestsPerSecond,
      errors: load instanceof Error ? null : load.errors,
      problem: load instanceof Error ? `wrk: ${load.message}` : null,
    };
  } finally {
    await children.stop(sidecar);
  }
}

const f1 = (n: number | null) => (n === null ? '-' : n.toFixed(1));

function renderTable(o: Options, results: RunResult[]): string {
  const ok = results.filter((r) => r.problem === null || r.idleMb > 0);
  const lines = [
    `| run | RSS idle (MB) | RSS peak under load (MB) | RSS after load (MB) | VmHWM (MB) | req/s | errors |`,
    `|---|---|---|---|---|---|---|`,
    ...results.map((r, i) => r.problem !== null && r.idleMb === 0
      ? `| ${i + 1} | failed: ${r.problem.replaceAll('|', '/')} | | | | | |`
      : `| ${i + 1} | ${f1(r.idleMb)} | ${f1(r.loadPeakMb)} | ${f1(r.afterMb)} | ${f1(r.hwmMb)} | ${r.requestsPerSecond === null ? '-' : Math.round(r.requestsPerSecond)} | ${r.errors ?? '-'} |`),
    `| **median** | **${f1(median(ok.map((r) => r.idleMb)))}** | **${f1(median(ok.map((r) => r.loadPeakMb)))}** | ${f1(median(ok.map((r) => r.afterMb)))} | ${f1(median(ok.map((r) => r.hwmMb)))} | ${f1(median(ok.map((r) => r.requestsPerSecond)))} | |`,
  ];
  return [
    `Sidecar memory: one \`trellis proxy\` (node ${process.version}${o.nodeArgs.length ? `, ${o.nodeArgs.join(' ')}` : ''}) against \`trellis control\`;`,
    `idle after ${o.settleMs / 1000} s settle, wrk -t1 -c${o.connections} -d${o.loadSeconds}s through the inbound listener. Target: < 60 MB idle, < 100 MB under load.`,
    '',
    ...lines,
  ].join('\n');
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const wrk = findExecutable('wrk');
  if (wrk === null) {
    process.stderr.write('wrk not found on PATH: it makes the load\n');
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'trellis-sidecar-memory-'));
  const children = new BenchChildren(dir);
  process.on('exit', () => children.killAllNow());
  const upstream = await startUpstream();
  const results: RunResult[] = [];
  try {
    const control = children.spawn('control', process.execPath, [cli, 'control', '--data-dir', join(dir, 'control'), '--listen', addr.control, '--log-level', 'warn'], { cpus: null, output: 'log' });
    for (let run = 1; run <= o.runs; run++) {
      const r = await oneRun(children, cli, dir, control, wrk, o, run);
      process.stderr.write(`run ${run}: ${r.problem ?? `idle ${f1(r.idleMb)} MB, load peak ${f1(r.loadPeakMb)} MB, after ${f1(r.afterMb)} MB, ${Math.round(r.requestsPerSecond ?? 0)} req/s`}\n`);
      results.push(r);
    }
  } finally {
    await children.stopAll();
    upstream.close();
  }
  const table = renderTable(o, results);
  process.stdout.write(`${table}\n`);
  const outDir = join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'sidecar-memory-latest.md'), `# Sidecar memory (${new Date().toISOString()})\n\n${table}\n`);
  rmSync(dir, { recursive: true, force: true });
  return results.every((r) => r.problem === null) ? 0 : 1;
}

process.exitCode = await main();
