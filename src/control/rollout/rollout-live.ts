// What the step in force has seen so far: the old and the new backend's figures over the window
// since the step began, read from the same rows the judge will read when the interval ends. The
// dashboard shows them while a step runs, so a person sees a bad canary before the verdict.
import type { StatsRow } from '../telemetry/stats-history.js';
import { backendFigures } from './rollout-judge.js';
import type { BackendFigures, RolloutState } from './rollout-state.js';

export interface LiveBackendFigures extends BackendFigures {
  /** Requests per second over the window, summed over the backend's callers. */
  rps: number;
}

export interface LiveStepFigures {
  step: number;
  percent: number;
  /** How much of the step the figures cover: from its start to the latest scrape round (0: none yet). */
  windowMs: number;
  from: LiveBackendFigures;
  to: LiveBackendFigures;
}

/** The rollout as the API shows it: its state and, while it progresses, the live figures of its step. */
export type RolloutView = RolloutState & { live: LiveStepFigures | null };

export function liveBackendFigures(rows: readonly StatsRow[], backend: string): LiveBackendFigures {
  let rps = 0;
  for (const r of rows) if (r.kind === 'edge' && r.to === backend) rps += r.rps;
  return { ...backendFigures(rows, backend), rps: Math.round(rps * 1000) / 1000 };
}

export function liveStepFigures(r: RolloutState, rows: readonly StatsRow[], windowMs: number): LiveStepFigures {
  return {
    step: r.stepIndex + 1,
    percent: r.steps[r.stepIndex],
    windowMs,
    from: liveBackendFigures(rows, r.from),
    to: liveBackendFigures(rows, r.to),
  };
}
