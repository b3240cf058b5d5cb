// `npm run bench:scale`: a control plane (its own process, the real `trellis control`) with S
// Services, N simulated sidecars in a few processes (scale-sidecars.ts), then rounds of changes
// (a route, an endpoint joining, an endpoint leaving, a burst of route changes), each timed
// from the moment it is made until every sidecar has ACKed a config holding it, with the control
// plane's CPU and RSS (from /proc) and what it pushed (GET /api/v1/xds).
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChildren, type BenchChild } from '../bench-children.js';
import { clockTicksPerSecond, readProcStat, readRssBytes } from '../bench-proc.js';
import { median } from '../bench-stats.js';
import type { ScaleOptions } from './scale-options.js';
import type { ChildMessage, Expectation, ParentMessage } from './scale-protocol.js';
import { buildTopology, hotRouteYaml, hotService, joinerNode, type ScaleTopology } from './scale-topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cliMain = path.resolve(here, '../../src/cli/main.js');
const sidecarsMain = path.join(here, 'scale-sidecars.js');

export type PhaseKind = 'initial' | 'route' | 'endpoint-add' | 'endpoint-remove' | 'burst';

export interface PhaseResult {
  kind: PhaseKind;
  round: number;
  /** Changes made in the phase (the burst's route changes, or one). */
  changes: number;
  /** From the (first) change until every sidecar had ACKed a config holding it. */
  allAckedMs: number;
  /** Until the first sidecar had. */
  firstAckedMs: number;
  /** How long making the change took (the API's apply, or telling a sidecar to join or leave). */
  changeMs: number;
  controlCpuSeconds: number;
  controlRssPeakBytes: number;
  pushedBytes: number;
  responses: number;
  /** The control plane's refresh passes during the phase. */
  passes: number;
  /** Configs each sidecar received during the phase: the fewest and the most. */
  configsMin: number;
  configsMax: number;
}

export interface ScaleSummaryRow {
  kind: PhaseKind;
  runs: number;
  medianMs: number;
  maxMs: number;
  /** Median of (all ACKed − the change's own duration): from the control plane accepting it. */
  medianAfterChangeMs: number;
  medianCpuSeconds: number;
  medianBytes: number;
  medianResponses: number;
  configsMax: number;
}

export interface ScaleResult {
  startedAt: string;
  options: ScaleOptions;
  topology: { sidecars: number; services: number; endpoints: number; servicesPerSidecar: number; egress: number };
  applyMs: number;
  phases: PhaseResult[];
  summary: ScaleSummaryRow[];
  controlRssPeakBytes: number;
  controlRssEndBytes: number;
  /** Distinct resources the control plane compiled over the run, and its compile cache's size at the end. */
  compiled: number;
  cached: number;
}

interface XdsStats { passes: number; responses: number; bytes: number; compiled: number; cached: number; connected: number }

/** Runs the whole simulation; `progress` gets one line per step. Everything it started is stopped, also on failure. */
export async function runScale(options: ScaleOptions, progress: (line: string) => void = () => undefined): Promise<ScaleResult> {
  const startedAt = new Date().toISOString();
  const topology = buildTopology(options);
  const dir = mkdtempSync(path.join(tmpdir(), 'trellis-scale-'));
  const children = new BenchChildren(dir);
  const sims: SimProcess[] = [];
  const killAll = () => {
    for (const s of sims) s.kill();
    children.killAllNow();
  };
  process.once('exit', killAll);
  try {
    progress(`topology: ${topology.nodes.length} sidecars, ${options.services} services, ${topology.endpointCount} endpoints (each sidecar an endpoint of ${topology.membership} services), egress ${options.egress}`);
    const control = children.spawn('control', process.execPath, [
      cliMain, 'control', '--data-dir', path.join(dir, 'control'), '--listen', options.address, '--grace', '1h',
      '--debounce', `${options.debounceMs}ms`, '--debounce-max', `${options.debounceMaxMs}ms`, '--log-level', 'warn',
    ], { cpus: null, output: 'log' });
    const api = new ControlApi(`http://${options.address}:15080`, path.join(dir, 'control', 'admin-token'));
    await waitUntil(() => api.healthy(), 30_000, () => `the control plane to start (${control.logTail()})`);
    const sampler = new ProcSampler(control);

    let t0 = Date.now();
    await api.apply(topology.resourcesYaml);
    const applyMs = Date.now() - t0;
    progress(`applied ${options.services} Services and 1 HTTPRoute in ${applyMs} ms`);

    const phases: PhaseResult[] = [];
    // initial sync: every sidecar connects and takes its first complete config
    const before = await phaseStart(api, sampler);
    t0 = Date.now();
    const per = Math.ceil(topology.nodes.length / options.processes);
    for (let p = 0; p < options.processes; p++) {
      const nodes = topology.nodes.slice(p * per, (p + 1) * per);
      if (nodes.length) sims.push(new SimProcess(p, dir, `${options.address}:15010`, nodes));
    }
    const ready = await Promise.all(sims.map((s) => s.wait('ready', options.timeoutMs, () => `sidecars of process ${s.index} to get their first config`)));
    phases.push(await phaseEnd('initial', 0, 1, t0, ready.map((r) => ({ firstAt: r.at, lastAt: r.at, configs: [] })), before, api, sampler));
    report(progress, phases.at(-1)!);

    let change = 0;
    for (let round = 1; round <= options.repeats; round++) {
      await settle(api, options.debounceMs);
      change++;
      const routeChange = change;
      phases.push(await measure('route', round, 1, { kind: 'route', vhost: `${hotService}.default`, prefix: `/change-${routeChange}` },
        () => api.apply(hotRouteYaml(routeChange))));
      report(progress, phases.at(-1)!);

      await settle(api, options.debounceMs);
      const joiner = joinerNode(topology, round);
      const at = { cluster: `${hotService}.default`, address: joiner.address, port: joiner.inboundPort };
      phases.push(await measure('endpoint-add', round, 1, { kind: 'endpoint', ...at, healthy: true }, async () => sims[0].send({ type: 'join', node: joiner })));
      report(progress, phases.at(-1)!);

      await settle(api, options.debounceMs);
      // a sidecar that leaves stays an endpoint, marked draining, for the control plane's grace period
      phases.push(await measure('endpoint-remove', round, 1, { kind: 'endpoint', ...at, healthy: false }, async () => sims[0].send({ type: 'leave', id: joiner.id })));
      report(progress, phases.at(-1)!);

      await settle(api, options.debounceMs);
      const first = change + 1;
      change += options.burst;
      phases.push(await measure('burst', round, options.burst, { kind: 'route', vhost: `${hotService}.default`, prefix: `/change-${change}` }, async () => {
        for (let c = first; c <= change; c++) await api.apply(hotRouteYaml(c));
      }));
      report(progress, phases.at(-1)!);
    }

    const end = await api.xds();
    const result: ScaleResult = {
      startedAt, options,
      topology: { sidecars: topology.nodes.length, services: options.services, endpoints: topology.endpointCount, servicesPerSidecar: topology.membership, egress: options.egress },
      applyMs, phases, summary: summarize(phases),
      controlRssPeakBytes: sampler.peakEver, controlRssEndBytes: readRssBytes(control.pid) ?? 0,
      compiled: end.compiled, cached: end.cached,
    };
    sampler.stop();
    return result;

    async function measure(kind: PhaseKind, round: number, changes: number, expectation: Expectation, act: () => Promise<unknown>): Promise<PhaseResult> {
      const id = phases.length;
      await Promise.all(sims.map((s) => {
        const expecting = s.wait('expecting', 10_000, () => `process ${s.index} to take expectation ${id}`);
        s.send({ type: 'expect', id, expectation });
        return expecting;
      }));
      const start = await phaseStart(api, sampler);
      const t = Date.now();
      let changeMs = 0;
      const seen = Promise.all(sims.map((s) => s.wait('seen', options.timeoutMs, () => `every sidecar of process ${s.index} to hold ${JSON.stringify(expectation)}`)));
      seen.catch(() => undefined); // awaited below; this only keeps a failing act() from leaving it unhandled
      await act();
      changeMs = Date.now() - t;
      return { ...(await phaseEnd(kind, round, changes, t, await seen, start, api, sampler)), changeMs };
    }
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    await children.stopAll();
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PhaseStart { stats: XdsStats; cpuTicks: number }

async function phaseStart(api: ControlApi, sampler: ProcSampler): Promise<PhaseStart> {
  sampler.resetPeak();
  return { stats: await api.xds(), cpuTicks: sampler.cpuTicks() };
}

async function phaseEnd(kind: PhaseKind, round: number, changes: number, t0: number, seen: { firstAt: number; lastAt: number; configs: number[] }[],
  start: PhaseStart, api: ControlApi, sampler: ProcSampler): Promise<PhaseResult> {
  const cpuTicks = sampler.cpuTicks();
  const stats = await api.xds();
  const configs = seen.flatMap((s) => s.configs);
  return {
    kind, round, changes,
    changeMs: 0,
    allAckedMs: Math.max(...seen.map((s) => s.lastAt)) - t0,
    firstAckedMs: Math.min(...seen.map((s) => s.firstAt)) - t0,
    controlCpuSeconds: (cpuTicks - start.cpuTicks) / sampler.ticksPerSecond,
    controlRssPeakBytes: sampler.peak,
    pushedBytes: stats.bytes - start.stats.bytes,
    responses: stats.responses - start.stats.responses,
    passes: stats.passes - start.stats.passes,
    configsMin: configs.length ? Math.min(...configs) : 1,
    configsMax: configs.length ? Math.max(...configs) : 1,
  };
}

function summarize(phases: readonly PhaseResult[]): ScaleSummaryRow[] {
  const kinds: PhaseKind[] = ['initial', 'route', 'endpoint-add', 'endpoint-remove', 'burst'];
  return kinds.flatMap((kind) => {
    const runs = phases.filter((p) => p.kind === kind);
    if (!runs.length) return [];
    return [{
      kind, runs: runs.length,
      medianMs: median(runs.map((r) => r.allAckedMs)) ?? 0,
      maxMs: Math.max(...runs.map((r) => r.allAckedMs)),
      medianAfterChangeMs: median(runs.map((r) => r.allAckedMs - r.changeMs)) ?? 0,
      medianCpuSeconds: median(runs.map((r) => r.controlCpuSeconds)) ?? 0,
      medianBytes: median(runs.map((r) => r.pushedBytes)) ?? 0,
      medianResponses: median(runs.map((r) => r.responses)) ?? 0,
      configsMax: Math.max(...runs.map((r) => r.configsMax)),
    }];
  });
}

function report(progress: (line: string) => void, p: PhaseResult): void {
  progress(`${p.kind}${p.round ? ` #${p.round}` : ''}: every sidecar ACKed in ${p.allAckedMs} ms (first ${p.firstAckedMs} ms; making the change took ${p.changeMs} ms); control plane ${p.controlCpuSeconds.toFixed(2)} CPU-s, `
    + `RSS ${(p.controlRssPeakBytes / 2 ** 20).toFixed(0)} MB, pushed ${(p.pushedBytes / 1024).toFixed(0)} KiB in ${p.responses} responses over ${p.passes} passes; configs per sidecar ${p.configsMin}–${p.configsMax}`);
}

/**
 * Lets the previous phase's last passes, pushes and ACKs finish so they are not counted in the
 * next: until no refresh pass ran for longer than the debounce (at most 30 s).
 */
async function settle(api: ControlApi, debounceMs: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let passes = (await api.xds()).passes;
  for (;;) {
    await new Promise((r) => setTimeout(r, debounceMs + 300));
    const now = (await api.xds()).passes;
    // quiet, and every proxy has ACKed what it was sent (a busy simulation may lag behind)
    if ((now === passes && await api.inSync()) || Date.now() > deadline) return;
    passes = now;
  }
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The control plane's HTTP API, with its admin token for writes. */
class ControlApi {
  constructor(private readonly base: string, private readonly tokenFile: string) {}

  async healthy(): Promise<boolean> {
    return (await fetch(`${this.base}/api/v1/health`)).ok;
  }

  async apply(yaml: string): Promise<void> {
    const token = readFileSync(this.tokenFile, 'utf8').trim();
    const res = await fetch(`${this.base}/api/v1/resources`, { method: 'POST', body: yaml, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' } });
    if (!res.ok) throw new Error(`apply failed: HTTP ${res.status}: ${await res.text()}`);
  }

  async inSync(): Promise<boolean> {
    const res = await fetch(`${this.base}/api/v1/proxies`);
    const rows = (await res.json()) as { connected: boolean; sentVersion: string | null; ackedVersion: string | null }[];
    return rows.every((p) => !p.connected || p.ackedVersion === p.sentVersion);
  }

  async xds(): Promise<XdsStats> {
    const res = await fetch(`${this.base}/api/v1/xds`);
    if (!res.ok) throw new Error(`GET /api/v1/xds: HTTP ${res.status}`);
    return (await res.json()) as XdsStats;
  }
}

/** CPU and peak RSS of the control plane, from /proc. */
class ProcSampler {
  readonly ticksPerSecond = clockTicksPerSecond();
  peak = 0;
  peakEver = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly child: BenchChild) {
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }

  cpuTicks(): number {
    return readProcStat(this.child.pid)?.cpuTicks ?? 0;
  }

  resetPeak(): void {
    this.peak = 0;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const rss = readRssBytes(this.child.pid) ?? 0;
    this.peak = Math.max(this.peak, rss);
    this.peakEver = Math.max(this.peakEver, rss);
  }
}

/** One process of simulated sidecars, driven over IPC; its own process group, stopped by pid. */
class SimProcess {
  private readonly proc: ChildProcess;
  private readonly waiters = new Map<string, { resolve: (m: any) => void; reject: (e: Error) => void }[]>();
  private readonly queued = new Map<string, ChildMessage[]>();
  private exited = false;

  constructor(readonly index: number, dir: string, server: string, nodes: ScaleTopology['nodes']) {
    const log = openSync(path.join(dir, `sidecars-${index}.log`), 'a');
    this.proc = fork(sidecarsMain, [], { detached: true, stdio: ['ignore', log, log, 'ipc'] });
    closeSync(log);
    this.proc.on('message', (m: ChildMessage) => {
      if (m.type === 'error') return this.failAll(new Error(`sidecars process ${index}: ${m.message}`));
      const list = this.waiters.get(m.type);
      const w = list?.shift();
      if (w) w.resolve(m);
      else this.queued.set(m.type, [...(this.queued.get(m.type) ?? []), m]);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      this.failAll(new Error(`sidecars process ${index} exited (${signal ?? code})`));
    });
    this.send({ type: 'start', server, nodes });
  }

  send(m: ParentMessage): void {
    if (!this.exited) this.proc.send(m);
  }

  wait<T extends ChildMessage['type']>(type: T, timeoutMs: number, what: () => string): Promise<Extract<ChildMessage, { type: T }>> {
    const queued = this.queued.get(type)?.shift();
    if (queued) return Promise.resolve(queued as Extract<ChildMessage, { type: T }>);
    const waiting = new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
      const list = this.waiters.get(type) ?? [];
      list.push({ resolve: (m) => { clearTimeout(timer); resolve(m); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.waiters.set(type, list);
    });
    // a wait abandoned after another process failed must not end the bench as an unhandled rejection
    waiting.catch(() => undefined);
    return waiting;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.kill(), 5000);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.exited || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private failAll(err: Error): void {
    for (const list of this.waiters.values()) for (const w of list.splice(0)) w.reject(err);
  }
}
