import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChildren } from './bench-children.js';
import { describeEnvironment } from './bench-environment.js';
import { measureOnce, type MeasureEnv, type RepeatResult } from './bench-measure.js';
import { measureNewConnections, newConnectionModes, type NewConnectionEnv, type NewConnectionMeasured, type NewConnectionSetup } from './bench-new-connections.js';
import { summarizeNewConnections } from './bench-new-connections-summary.js';
import { h2LatencySeconds, h2loadTargets, parseBenchOptions, usage, type BenchOptions, type TargetName } from './bench-options.js';
import { clockTicksPerSecond, rssBytes, withDescendants } from './bench-proc.js';
import type { BenchReport } from './bench-report.js';
import { writeReportFiles } from './bench-report-files.js';
import { renderTable } from './bench-report-table.js';
import { summarize, type TargetOutcome } from './bench-summary.js';
import { isSkipped, type BenchContext, type BenchTarget, type StartedTarget } from './bench-target.js';
import { directTarget } from './bench-target-direct.js';
import { startH2Targets } from './bench-target-h2.js';
import { startHaproxyTarget } from './bench-target-haproxy.js';
import { startNginxTarget } from './bench-target-nginx.js';
import { startTrellisTargets } from './bench-target-trellis.js';
import { startTrellisMtlsTargets } from './bench-target-trellis-mtls.js';
import { newConnVariants } from './bench-target-trellis-mtls-new-conn.js';
import { startTrellisTelemetryTarget } from './bench-target-trellis-telemetry.js';
import { startTrellisUpgradeTarget } from './bench-target-trellis-upgrade.js';
import { ensureTools, type ToolName } from './bench-tools.js';
import { startUpstream } from './bench-upstream.js';

/** `npm run bench`: direct, nginx, HAProxy and Trellis side by side, HTTP/1.1 and HTTP/2, interleaved (shared/PERFORMANCE.md). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const say = (line: string): void => { process.stderr.write(`[bench] ${line}\n`); };
/** Start-up of all processes and report writing, on top of the runs themselves. */
const setupBudgetSeconds = 240;

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options instanceof Error) {
    process.stderr.write(`${options.message}\n`);
    return options.message === usage ? 0 : 2;
  }
  const wanted = new Set<TargetName>(options.only);
  const needsWrk = options.only.some((t) => t !== 'balancer' && !h2loadTargets.includes(t));
  const needsH2load = options.only.some((t) => h2loadTargets.includes(t));
  const toolNames: ToolName[] = ['nginx'];
  if (needsWrk) toolNames.unshift('wrk');
  if (needsH2load) toolNames.push('h2load');
  if (wanted.has('haproxy')) toolNames.push('haproxy');
  const tools = ensureTools(toolNames, say);
  const wrk = tools.get('wrk');
  if (needsWrk && (wrk === undefined || !('path' in wrk))) {
    process.stderr.write(`bench: cannot run without wrk: ${wrk !== undefined && 'missing' in wrk ? wrk.missing : 'not found'}\n`);
    return 1;
  }

  const tmpDir = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
  const children = new BenchChildren(tmpDir);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}: stopping everything the bench started...`);
    void children.stopAll().finally(() => {
      rmSync(tmpDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => children.killAllNow());
  const budget = estimateSeconds(options) + setupBudgetSeconds;
  const watchdog = setTimeout(() => {
    say(`overall timeout of ${budget}s reached; stopping`);
    void children.stopAll().finally(() => process.exit(1));
  }, budget * 1000);

  let ok = false;
  try {
    const report = await runBench(options, tools, children, tmpDir, () => interrupted);
    // The signal handler is stopping the children and will exit: no report from half-killed runs.
    if (interrupted) return 130;
    if (report instanceof Error) {
      process.stderr.write(`bench: ${report.message}\n`);
      return 1;
    }
    process.stdout.write(`\n${renderTable(report)}\n\n`);
    const written = writeReportFiles(join(repoRoot, 'bench', 'results'), report);
    say(`wrote ${written.join(', ')}`);
    if (wanted.has('balancer')) {
      const code = await runBalancerScenario(options, children);
      if (code !== 0) return code;
    }
    ok = true;
    return 0;
  } finally {
    clearTimeout(watchdog);
    // When interrupted, the signal handler stops the children, removes tmpDir and exits.
    if (!interrupted) {
      await children.stopAll();
      if (ok) rmSync(tmpDir, { recursive: true, force: true });
      else say(`logs kept in ${tmpDir}`);
    }
  }
}

async function runBench(
  options: BenchOptions, tools: BenchContext['tools'], children: BenchChildren, tmpDir: string, interrupted: () => boolean,
): Promise<BenchReport | Error> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg()[0];
  const pinned = availableParallelism() >= 2;
  const ctx: BenchContext = {
    children, tmpDir, repoRoot, tools, say,
    proxyCpus: pinned ? '0' : null,
    loadCpus: pinned ? '1' : null,
    sidecarNodeArgs: options.cpuProfileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(options.cpuProfileDir)],
  };
  say(`estimated run time ${Math.round(estimateSeconds(options) / 60 * 10) / 10} min; temp dir ${tmpDir}`);
  const upstream = await startUpstream(ctx, options.upstream);
  if (upstream instanceof Error) return new Error(`upstream did not start: ${upstream.message}`);

  const wanted = new Set<TargetName>(options.only);
  const started: StartedTarget[] = [];
  if (wanted.has('direct')) started.push(directTarget(upstream));
  if (wanted.has('nginx')) started.push(await startNginxTarget(ctx, upstream));
  if (wanted.has('haproxy')) started.push(await startHaproxyTarget(ctx, upstream));
  if (wanted.has('trellis-1-hop') || wanted.has('trellis-mesh')) {
    started.push(...await startTrellisTargets(ctx, upstream, { oneHop: wanted.has('trellis-1-hop'), mesh: wanted.has('trellis-mesh') }));
  }
  if (wanted.has('trellis-mesh-h2-upgrade')) started.push(await startTrellisUpgradeTarget(ctx, upstream));
  let newConnections: NewConnectionSetup | { skipped: string } | null = null;
  const newConn = new Set(newConnVariants.map((v) => v.name).filter((n) => wanted.has(n)));
  if (wanted.has('trellis-mesh-mtls') || newConn.size > 0) {
    const mtls = await startTrellisMtlsTargets(ctx, upstream, { mesh: wanted.has('trellis-mesh-mtls'), newConn });
    started.push(...mtls.targets);
    if (wanted.has('trellis-mesh-mtls')) newConnections = mtls.newConnections;
    if (newConnections !== null && 'skipped' in newConnections) say(`new-connection runs skipped: ${newConnections.skipped}`);
  }
  for (const telemetry of ['off', 'on'] as const) {
    const target = telemetry === 'on' ? 'trellis-mesh-telemetry' : 'trellis-mesh-telemetry-off';
    if (wanted.has(target)) started.push((await startTrellisTelemetryTarget(ctx, upstream, telemetry)).target);
  }
  const h2load = tools.get('h2load');
  const h2Wanted = options.only.filter((t) => h2loadTargets.includes(t));
  if (h2Wanted.length > 0 && (h2load === undefined || !('path' in h2load))) {
    const reason = h2load !== undefined && 'missing' in h2load ? h2load.missing : 'h2load not looked up';
    started.push(...h2Wanted.map((name) => ({ name, skipped: reason })));
  } else if (h2Wanted.length > 0) {
    started.push(...await startH2Targets(ctx, {
      h2Direct: wanted.has('h2-direct'), h2Mesh: wanted.has('h2-mesh'), grpcDirect: wanted.has('grpc-direct'), grpcMesh: wanted.has('grpc-mesh'),
    }));
  }
  for (const t of started) if (isSkipped(t)) say(`${t.name} skipped: ${t.skipped}`);
  const active = options.only.map((n) => started.find((t) => t.name === n)).filter((t): t is BenchTarget => t !== undefined && !isSkipped(t));

  // Idle memory once, after start-up and before any load, so a V8 heap grown by earlier runs does not count.
  await new Promise((r) => setTimeout(r, 500));
  const idle = new Map<TargetName, number | null>();
  for (const t of active) idle.set(t.name, t.proxyPids.length === 0 ? null : rssBytes(withDescendants(t.proxyPids)));

  const pathOf = (name: ToolName): string | null => {
    const t = tools.get(name);
    return t !== undefined && 'path' in t ? t.path : null;
  };
  const env: MeasureEnv = {
    children, wrkPath: pathOf('wrk'), h2loadPath: pathOf('h2load'), tmpDir, loadCpus: ctx.loadCpus, ticksPerSecond: clockTicksPerSecond(),
  };
  const results = new Map<TargetName, RepeatResult[]>(active.map((t) => [t.name, []]));
  const failures = new Map<TargetName, string[]>(active.map((t) => [t.name, []]));
  const connEnv: NewConnectionEnv = { children, repoRoot, loadCpus: ctx.loadCpus, ticksPerSecond: env.ticksPerSecond };
  const connRuns = new Map<'tcp' | 'tls', NewConnectionMeasured[]>([['tcp', []], ['tls', []]]);
  const connFailures = new Map<'tcp' | 'tls', string[]>([['tcp', []], ['tls', []]]);
  const connOptions = { seconds: options.handshakeDuration, concurrency: options.handshakeConnections, warmup: options.warmup };
  for (let repeat = 1; repeat <= options.repeats; repeat++) {
    for (const t of active) {
      if (interrupted()) return new Error('interrupted');
      const r = await measureOnce(env, t, options, repeat);
      if (interrupted()) return new Error('interrupted');
      if (r instanceof Error) {
        failures.get(t.name)?.push(`repeat ${repeat}: ${r.message}`);
        say(`repeat ${repeat}/${options.repeats} ${t.name}: FAILED ${r.message}`);
        continue;
      }
      results.get(t.name)?.push(r);
      const cpu = r.cpuSeconds === null ? '' : `, ${(r.cpuSeconds * 1e6 / r.throughput.requests).toFixed(1)} CPU µs/req`;
      say(`repeat ${repeat}/${options.repeats} ${t.name}: ${r.throughput.requestsPerSecond.toFixed(0)} req/s, p50 ${r.latency.p50Ms?.toFixed(3)} ms${cpu}`);
    }
    if (newConnections === null || 'skipped' in newConnections) continue;
    for (const mode of newConnectionModes) {
      if (interrupted()) return new Error('interrupted');
      const r = await measureNewConnections(connEnv, newConnections, mode, connOptions, repeat);
      if (interrupted()) return new Error('interrupted');
      if (r instanceof Error) {
        connFailures.get(mode)?.push(`repeat ${repeat}: ${r.message}`);
        say(`repeat ${repeat}/${options.repeats} new connections ${mode}: FAILED ${r.message}`);
        continue;
      }
      connRuns.get(mode)?.push(r);
      const cpu = r.completed > 0 ? `, sidecar ${(r.sidecarCpuSeconds * 1e6 / r.completed).toFixed(1)} CPU µs/conn` : '';
      say(`repeat ${repeat}/${options.repeats} new connections ${mode}: ${(r.completed / r.seconds).toFixed(0)}/s, ${r.errors} errors${cpu}`);
    }
  }

  const lateNotes = new Map<TargetName, string>();
  for (const t of active) {
    if (t.afterRuns === undefined) continue;
    try {
      lateNotes.set(t.name, await t.afterRuns());
    } catch (err) {
      lateNotes.set(t.name, `(could not read: ${(err as Error).message})`);
    }
  }
  const noteOf = (t: BenchTarget): string | null => [t.note, lateNotes.get(t.name)].filter((n) => n != null).join('; ') || null;
  const outcomes: TargetOutcome[] = started.map((t) => isSkipped(t)
    ? { target: t.name, hops: 0, note: null, load: h2loadTargets.includes(t.name) ? 'h2load' : 'wrk', skipped: t.skipped, rssIdleBytes: null, repeats: [], failures: [] }
    : {
      target: t.name, hops: t.hops, note: noteOf(t), load: t.h2load === undefined ? 'wrk' : 'h2load', baseline: t.baseline, direct: t.direct,
      skipped: null, rssIdleBytes: idle.get(t.name) ?? null,
      repeats: results.get(t.name) ?? [], failures: failures.get(t.name) ?? [],
    });
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    environment: describeEnvironment(tools, repoRoot),
    upstream: { kind: upstream.kind, note: upstream.note },
    loadAverage: { start: loadStart, end: loadavg()[0] },
    pinning: { proxyCpus: ctx.proxyCpus, loadCpus: ctx.loadCpus, note: pinned ? null : 'fewer than 2 CPUs: nothing pinned, proxy and load share the CPU' },
    targets: summarize(outcomes),
    newConnections: newConnections === null || 'skipped' in newConnections ? newConnections
      : summarizeNewConnections(newConnections, options.handshakeDuration, options.handshakeConnections, connRuns, connFailures),
  };
}

/** Seconds the measured runs take (plus ~0.5 s of process start per wrk or handshake client). */
function estimateSeconds(o: BenchOptions): number {
  const newConnections = o.only.includes('trellis-mesh-mtls') ? newConnectionModes.length * (o.warmup + o.handshakeDuration + 2) : 0;
  const h2 = o.only.filter((n) => h2loadTargets.includes(n)).length;
  const wrk = o.only.filter((n) => n !== 'balancer').length - h2;
  return o.repeats * (wrk * (2 * o.warmup + o.duration + o.latencyDuration + 2) + h2 * (2 * o.warmup + o.h2Duration + h2LatencySeconds(o) + 2) + newConnections) +
    balancerSeconds(o);
}

/** Three policies per repeat, each a warm-up of 2 s, the run and ~2 s to start its sidecar. */
function balancerSeconds(o: BenchOptions): number {
  return o.only.includes('balancer') ? o.repeats * balancerPolicies * (2 + o.duration + 2) : 0;
}
const balancerPolicies = 3;

/**
 * The load-balancing scenario of issue 3 (round-robin, least-request and peak-EWMA in front of three
 * instances, one slow), in its own processes after the wrk targets so it does not load them.
 */
async function runBalancerScenario(o: BenchOptions, children: BenchChildren): Promise<number> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = join(repoRoot, 'bench', 'results', `balancer-${stamp}.md`);
  say(`balancer scenario: ${balancerSeconds(o)} s`);
  const child = children.spawn('balancer', process.execPath,
    [join(repoRoot, 'dist', 'bench', 'bench-balancer.js'), '--duration', String(o.duration), '--repeats', String(o.repeats), '--out', out],
    { cpus: null, output: 'pipe' });
  const exit = await child.exited;
  process.stdout.write(`\n${child.stdout()}\n`);
  if (exit.code === 0) return 0;
  say(`balancer scenario failed (${exit.spawnError?.message ?? `exit ${exit.code ?? exit.signal}`}): ${child.logTail()}`);
  return 1;
}

process.exitCode = await main();
