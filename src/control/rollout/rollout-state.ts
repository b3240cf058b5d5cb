// The state of one rollout (canary or blue/green) as the control plane persists it and the API
// shows it. Percentages are of the new backend; weights are what the HTTPRoute carries.

export type RolloutPhase = 'progressing' | 'completed' | 'rolled-back' | 'aborted';

export interface RolloutThresholds {
  /** The new backend fails if its error rate exceeds the old one's by more than this (0.05 = 5 points). */
  maxErrorRateIncrease: number;
  /** The new backend fails if its p99 exceeds the old one's times this ... */
  maxP99Ratio: number;
  /** ... and by more than this many ms (histogram buckets make small latencies coarse). */
  p99SlackMs: number;
  /** Fewer requests to the new backend than this in a step is no traffic to judge. */
  minRequests: number;
  /** Extra intervals a step waits for traffic before the rollout is rolled back for lack of it. */
  noTrafficGraceIntervals: number;
}

export const defaultThresholds: RolloutThresholds = {
  maxErrorRateIncrease: 0.05,
  maxP99Ratio: 1.5,
  p99SlackMs: 10,
  minRequests: 10,
  noTrafficGraceIntervals: 2,
};

/** What the judge read of one backend over a step's window. */
export interface BackendFigures {
  requests: number;
  successRate: number | null;
  p99Ms: number | null;
}

export type StepVerdict = 'pass' | 'fail' | 'no-traffic';

export interface StepRecord {
  step: number;
  percent: number;
  startedAt: string;
  judgedAt: string;
  verdict: StepVerdict;
  reason: string;
  newBackend: BackendFigures;
  /** The old backend's figures the new one was compared with (this step's, or the last known). */
  baseline: BackendFigures | null;
}

export interface RolloutEvent {
  at: string;
  message: string;
}

export interface RolloutState {
  service: string;
  namespace: string;
  from: string;
  to: string;
  /** Percent of traffic to `to` at each step; the last is 100. */
  steps: number[];
  intervalMs: number;
  thresholds: RolloutThresholds;
  phase: RolloutPhase;
  /** Index into steps of the step in force (or the last one reached). */
  stepIndex: number;
  /** Epoch ms when the current step's weights were written (its judging window starts there). */
  stepStartedAt: number;
  /** Intervals of the current step already spent waiting for traffic. */
  graceUsed: number;
  weights: { from: number; to: number };
  /** HTTPRoutes whose weights the rollout writes (namespace/name). */
  routes: string[];
  /** The route the rollout created because the service had none. */
  createdRoute: string | null;
  baseline: BackendFigures | null;
  history: StepRecord[];
  events: RolloutEvent[];
  createdAt: string;
  updatedAt: string;
}

/** Gateway API weights are integers: percent × 100 keeps steps as fine as 0.01 %. */
export const weightScale = 10_000;

export function weightsFor(percent: number): { from: number; to: number } {
  const to = Math.round(percent * 100);
  return { from: weightScale - to, to };
}

export function rolloutKey(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

/** Keeps the events log bounded however long a rollout runs. */
export const maxEvents = 200;
