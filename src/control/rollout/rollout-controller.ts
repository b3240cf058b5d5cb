// Runs canary and blue/green rollouts inside the control plane, so one survives the CLI that
// started it going away: at each step it writes the weights into the service's HTTPRoutes, waits
// the interval, judges the new backend against the old one from the scraped sidecar metrics, and
// either moves on, finishes at 100 %, or rolls back to 100 % old. Every change is persisted
// (rollout-file.ts) before it is acted on further, and `open()` resumes what was progressing.
import type { Logger } from '../../common/log.js';
import { systemClock, type Clock } from '../clock.js';
import type { StatsRow } from '../telemetry/stats-history.js';
import type { Store } from '../store/store.js';
import { loadRollouts, saveRollouts } from './rollout-file.js';
import { backendFigures, judgeStep } from './rollout-judge.js';
import { liveStepFigures, type RolloutView } from './rollout-live.js';
import { createdRoute, createdRouteName, currentBackend, routesOfService, withWeights, type RouteTarget } from './rollout-routes.js';
import {
  defaultThresholds, maxEvents, rolloutKey, weightScale, weightsFor,
  type RolloutState, type RolloutThresholds, type StepRecord,
} from './rollout-state.js';

/** Where the judge reads traffic: a fresh scrape round, then rows over a window ending now. */
export interface RolloutStats {
  scrape(): Promise<void>;
  rows(windowMs: number): StatsRow[];
  /** When the latest round was taken: the live figures' window ends there, so it holds only the step's rounds. */
  latestRoundAt?(): number | undefined;
}

export interface RolloutControllerOptions {
  store: Store;
  dataDir: string;
  logger: Logger;
  stats?: RolloutStats;
  clock?: Clock;
  /** Names that may be backends besides the Service resources (services instances registered under). */
  registeredServices?: (namespace: string) => Iterable<string>;
}

export interface StartRollout {
  service: string;
  namespace?: string;
  to: string;
  from?: string;
  steps: number[];
  intervalMs: number;
  thresholds?: Partial<RolloutThresholds>;
}

export type RolloutResult = { ok: true; rollout: RolloutState } | { ok: false; status: number; error: string };

export const minIntervalMs = 1000;

export class RolloutController {
  private readonly rollouts = new Map<string, RolloutState>();
  private readonly timers = new Map<string, unknown>();
  private readonly listeners = new Set<() => void>();
  private readonly clock: Clock;
  /** Every mutation runs in this chain: timers and API calls never interleave on one state. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: RolloutControllerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Loads the persisted rollouts and resumes the progressing ones. */
  static async open(opts: RolloutControllerOptions): Promise<RolloutController> {
    const c = new RolloutController(opts);
    for (const r of await loadRollouts(opts.dataDir)) c.rollouts.set(rolloutKey(r.namespace, r.service), r);
    for (const r of c.rollouts.values()) {
      if (r.phase !== 'progressing') continue;
      // the stats history lives in memory and died with the previous process: the step's
      // window restarts now rather than judging on traffic nobody can see any more
      r.stepStartedAt = c.clock.now();
      c.event(r, `resumed at step ${r.stepIndex + 1}/${r.steps.length} (${r.steps[r.stepIndex]}%) after a control-plane restart; the step's interval restarts`);
      c.schedule(r, r.intervalMs);
    }
    if (c.rollouts.size > 0) await c.persist();
    for (const r of c.rollouts.values()) {
      if (r.phase === 'progressing') void c.enqueue(() => c.writeWeights(r, r.weights).then((err) => err && c.event(r, `cannot rewrite the weights on resume: ${err}`)));
    }
    return c;
  }

  list(): RolloutState[] {
    return [...this.rollouts.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service));
  }

  get(namespace: string, service: string): RolloutState | undefined {
    return this.rollouts.get(rolloutKey(namespace, service));
  }

  /** The rollout with the live figures of its step (null unless it progresses and traffic is scraped). */
  view(r: RolloutState): RolloutView {
    const stats = this.opts.stats;
    if (r.phase !== 'progressing' || !stats) return { ...r, live: null };
    // the step began right after a scrape round (beginStep): the rounds since hold only its traffic
    const windowMs = (stats.latestRoundAt?.() ?? this.clock.now()) - r.stepStartedAt;
    return { ...r, live: liveStepFigures(r, windowMs > 0 ? stats.rows(windowMs) : [], Math.max(0, windowMs)) };
  }

  /** Calls `cb` after every change of any rollout (a step, a verdict, an event); returns the unsubscribe. */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  start(spec: StartRollout): Promise<RolloutResult> {
    return this.enqueue(() => this.doStart(spec));
  }

  /** Stops a progressing rollout and sends everything back to the old backend. */
  abort(namespace: string, service: string): Promise<RolloutResult> {
    return this.enqueue(async () => {
      const r = this.get(namespace, service);
      if (!r) return { ok: false, status: 404, error: `no rollout of ${namespace}/${service}` };
      if (r.phase !== 'progressing') return { ok: false, status: 409, error: `the rollout of ${namespace}/${service} is ${r.phase}, not progressing` };
      return this.revert(r, 'aborted', 'aborted by request');
    });
  }

  /** Sends everything back to the old backend at once, whether the rollout is running or finished (blue/green's way back). */
  rollback(namespace: string, service: string): Promise<RolloutResult> {
    return this.enqueue(async () => {
      const r = this.get(namespace, service);
      if (!r) return { ok: false, status: 404, error: `no rollout of ${namespace}/${service}` };
      if (r.phase === 'rolled-back' || r.phase === 'aborted') return { ok: false, status: 409, error: `the rollout of ${namespace}/${service} is already ${r.phase}` };
      return this.revert(r, 'rolled-back', 'rolled back by request');
    });
  }

  /** Stops the timers; progressing rollouts stay persisted as they are and resume on the next open. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    await this.queue.catch(() => undefined);
  }

  private async doStart(spec: StartRollout): Promise<RolloutResult> {
    const namespace = spec.namespace ?? 'default';
    const existing = this.get(namespace, spec.service);
    if (existing?.phase === 'progressing') return { ok: false, status: 409, error: `a rollout of ${namespace}/${spec.service} is already progressing (step ${existing.stepIndex + 1}/${existing.steps.length}); abort it first` };
    const bad = validateSpec(spec);
    if (bad) return { ok: false, status: 400, error: bad };
    const resources = await this.opts.store.list();
    const known = new Set<string>(resources.filter((r) => r.kind === 'Service' && r.metadata.namespace === namespace).map((r) => r.metadata.name));
    for (const s of this.opts.registeredServices?.(namespace) ?? []) known.add(s);
    const routes = routesOfService(resources, spec.service, namespace);
    const from = spec.from ?? currentBackend(routes, spec.service, spec.to);
    for (const [flag, name] of [['SERVICE', spec.service], ['--to', spec.to], ['--from', from]] as const) {
      if (!known.has(name)) return { ok: false, status: 400, error: `${flag}: unknown service "${name}" in namespace ${namespace}` };
    }
    if (from === spec.to) return { ok: false, status: 400, error: `--to and --from are both "${from}"` };
    const now = this.clock.now();
    const r: RolloutState = {
      service: spec.service, namespace, from, to: spec.to,
      steps: spec.steps, intervalMs: spec.intervalMs,
      thresholds: { ...defaultThresholds, ...stripUndefined(spec.thresholds ?? {}) },
      phase: 'progressing', stepIndex: 0, stepStartedAt: now, graceUsed: 0,
      weights: weightsFor(spec.steps[0]), routes: [], createdRoute: null, baseline: null,
      history: [], events: [], createdAt: new Date(now).toISOString(), updatedAt: new Date(now).toISOString(),
    };
    const err = await this.writeWeights(r, r.weights);
    if (err) return { ok: false, status: 400, error: err };
    this.rollouts.set(rolloutKey(namespace, spec.service), r);
    this.event(r, `started: ${from} → ${spec.to}, steps ${spec.steps.join(',')}%, interval ${spec.intervalMs} ms; routes ${r.routes.join(', ')}`);
    await this.beginStep(r, 0);
    this.opts.logger.info({ service: spec.service, namespace, from, to: spec.to, steps: spec.steps }, 'rollout started');
    return { ok: true, rollout: r };
  }

  /** Writes the step's weights (already done for step 0 by start) and starts its window. */
  private async beginStep(r: RolloutState, index: number): Promise<void> {
    const w = weightsFor(r.steps[index]);
    if (w.to !== r.weights.to || w.from !== r.weights.from) {
      const err = await this.writeWeights(r, w);
      if (err) {
        await this.revert(r, 'aborted', `cannot write the weights of step ${index + 1}: ${err}`);
        return;
      }
    }
    // a scrape round now closes the previous step's counts, so the window holds this step's
    await this.scrape();
    // the step becomes visible together with its timer (a reader never sees one without the other)
    r.weights = w;
    r.stepIndex = index;
    r.graceUsed = 0;
    r.stepStartedAt = this.clock.now();
    this.schedule(r, r.intervalMs);
    this.event(r, `step ${index + 1}/${r.steps.length}: ${r.steps[index]}% to ${r.to} (weights ${r.from}=${w.from}, ${r.to}=${w.to})`);
    await this.persist();
  }

  private async judge(r: RolloutState): Promise<void> {
    if (r.phase !== 'progressing' || this.closed) return;
    await this.scrape();
    const now = this.clock.now();
    const windowMs = Math.max(minIntervalMs, now - r.stepStartedAt);
    const rows = this.opts.stats?.rows(windowMs) ?? [];
    const j = judgeStep(backendFigures(rows, r.to), backendFigures(rows, r.from), r.baseline, r.thresholds);
    const record: StepRecord = {
      step: r.stepIndex + 1, percent: r.steps[r.stepIndex],
      startedAt: new Date(r.stepStartedAt).toISOString(), judgedAt: new Date(now).toISOString(),
      verdict: j.verdict, reason: j.reason, newBackend: j.newBackend, baseline: j.baseline,
    };
    r.history.push(record);
    if (j.baseline) r.baseline = j.baseline;
    this.event(r, `step ${record.step} (${record.percent}%): ${j.verdict}: ${j.reason}`);
    if (j.verdict === 'fail') {
      await this.revert(r, 'rolled-back', `rolled back automatically at step ${record.step}: ${j.reason}`);
      return;
    }
    if (j.verdict === 'no-traffic') {
      if (r.graceUsed < r.thresholds.noTrafficGraceIntervals) {
        r.graceUsed++;
        this.schedule(r, r.intervalMs);
        this.event(r, `waiting one more interval for traffic (${r.graceUsed}/${r.thresholds.noTrafficGraceIntervals})`);
        await this.persist();
        return;
      }
      await this.revert(r, 'rolled-back', `rolled back automatically at step ${record.step}: no traffic to judge after ${r.graceUsed + 1} intervals`);
      return;
    }
    if (r.stepIndex + 1 >= r.steps.length) {
      r.phase = 'completed';
      this.event(r, `completed: 100% to ${r.to}`);
      await this.persist();
      this.opts.logger.info({ service: r.service, namespace: r.namespace, to: r.to }, 'rollout completed');
      return;
    }
    await this.beginStep(r, r.stepIndex + 1);
  }

  private async revert(r: RolloutState, phase: 'rolled-back' | 'aborted', why: string): Promise<RolloutResult> {
    this.cancelTimer(r);
    const w = { from: weightScale, to: 0 };
    const err = await this.writeWeights(r, w);
    r.phase = phase;
    if (err) this.event(r, `cannot write the weights back: ${err}`);
    else r.weights = w;
    this.event(r, `${why}; 100% to ${r.from}`);
    await this.persist();
    this.opts.logger.warn({ service: r.service, namespace: r.namespace, from: r.from, to: r.to, phase }, why);
    return err ? { ok: false, status: 500, error: `cannot write the weights back: ${err}` } : { ok: true, rollout: r };
  }

  /** Writes the weights into the service's routes (creating one when it has none); an error message or null. */
  private async writeWeights(r: RolloutState, w: { from: number; to: number }): Promise<string | null> {
    const target: RouteTarget = { service: r.service, namespace: r.namespace, from: r.from, to: r.to };
    const routes = routesOfService(await this.opts.store.list('HTTPRoute'), r.service, r.namespace);
    try {
      if (routes.length === 0) {
        const route = createdRoute(r.createdRoute ?? createdRouteName(r.service), target, w);
        await this.opts.store.apply([route]);
        r.createdRoute = route.metadata.name;
        r.routes = [`${r.namespace}/${route.metadata.name}`];
        return null;
      }
      const changed = routes.map((route) => withWeights(route, target, w)).filter((x) => x !== null);
      if (changed.length === 0) return `no rule of the HTTPRoutes of ${r.service} (${routes.map((x) => x.metadata.name).join(', ')}) sends to "${r.from}"`;
      await this.opts.store.apply(changed);
      r.routes = changed.map((x) => `${r.namespace}/${x.metadata.name}`);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private schedule(r: RolloutState, ms: number): void {
    if (this.closed) return;
    this.cancelTimer(r);
    const key = rolloutKey(r.namespace, r.service);
    this.timers.set(key, this.clock.setTimeout(() => {
      this.timers.delete(key);
      void this.enqueue(() => this.judge(r)).catch((err: unknown) => {
        this.opts.logger.error({ err, service: r.service }, 'rollout step failed; trying again after one interval');
        this.event(r, `step failed: ${(err as Error).message}; trying again`);
        this.schedule(r, r.intervalMs);
      });
    }, ms));
  }

  private cancelTimer(r: RolloutState): void {
    const key = rolloutKey(r.namespace, r.service);
    const t = this.timers.get(key);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(key);
  }

  private async scrape(): Promise<void> {
    try {
      await this.opts.stats?.scrape();
    } catch (err) {
      this.opts.logger.warn({ err }, 'rollout: scrape round failed');
    }
  }

  private event(r: RolloutState, message: string): void {
    const at = new Date(this.clock.now()).toISOString();
    r.events.push({ at, message });
    if (r.events.length > maxEvents) r.events.splice(0, r.events.length - maxEvents);
    r.updatedAt = at;
    for (const cb of this.listeners) cb();
  }

  private persist(): Promise<void> {
    return saveRollouts(this.opts.dataDir, [...this.rollouts.values()]);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Steps must rise to 100 and the interval be at least a second; an error message or null. */
export function validateSpec(spec: StartRollout): string | null {
  if (spec.steps.length === 0) return '--steps: at least one step is required';
  for (const [i, s] of spec.steps.entries()) {
    if (!Number.isFinite(s) || s <= 0 || s > 100) return `--steps[${i}]: ${s} is not a percentage in (0, 100]`;
    if (Math.round(s * 100) !== s * 100) return `--steps[${i}]: ${s} is finer than 0.01%`;
    if (i > 0 && s <= spec.steps[i - 1]) return `--steps[${i}]: ${s} must be larger than the step before it`;
  }
  if (spec.steps.at(-1) !== 100) return '--steps: the last step must be 100';
  if (!Number.isFinite(spec.intervalMs) || spec.intervalMs < minIntervalMs) return `--interval must be at least ${minIntervalMs / 1000}s`;
  const t = spec.thresholds ?? {};
  if (t.maxErrorRateIncrease !== undefined && !(t.maxErrorRateIncrease >= 0 && t.maxErrorRateIncrease <= 1)) return '--max-error-rate-increase must be between 0 and 1';
  if (t.maxP99Ratio !== undefined && !(t.maxP99Ratio >= 1)) return '--max-p99-ratio must be at least 1';
  if (t.minRequests !== undefined && !(Number.isInteger(t.minRequests) && t.minRequests >= 1)) return 'minRequests must be a positive integer';
  return null;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
