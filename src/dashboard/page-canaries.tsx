// Rollouts the control plane runs (`trellis canary`), live over the event stream: each one's
// steps and where it stands, the weights its routes carry now, what the step in force has seen
// so far of the old and the new backend (the figures the judge will read when the interval ends),
// every verdict with the figures it judged, and the latest events.
import type { LiveBackendFigures, RolloutView } from './api-types.js';
import { serviceHref } from './hash-route.js';
import { fmtDuration, fmtMs, fmtPct, fmtRps, health, none } from './format.js';
import { useConnection, useNow, useTopic } from './live-store.js';

const phaseClass: Record<RolloutView['phase'], string> = { progressing: 'warn', completed: 'good', 'rolled-back': 'bad', aborted: 'bad' };
const verdictClass = { pass: 'good', fail: 'bad', 'no-traffic': 'warn' } as const;

type StepState = 'done' | 'current' | 'failed' | 'pending';

function stepState(r: RolloutView, i: number): StepState {
  if (i < r.stepIndex) return 'done';
  if (i > r.stepIndex) return 'pending';
  if (r.phase === 'completed') return 'done';
  if (r.phase === 'progressing') return 'current';
  return 'failed';
}

function Steps({ r }: { r: RolloutView }) {
  return (
    <ol class="steps" aria-label="Steps" data-testid="rollout-steps">
      {r.steps.map((percent, i) => {
        const s = stepState(r, i);
        return (
          <li key={i} class={`step step-${s}`} data-step={i + 1} data-state={s} aria-current={s === 'current' ? 'step' : undefined}>
            <span class="step-n">step {i + 1}</span> {percent}% to {r.to}
          </li>
        );
      })}
    </ol>
  );
}

function LiveRow({ role, name, f }: { role: 'old' | 'new'; name: string; f: LiveBackendFigures }) {
  return (
    <tr data-backend={name} data-role={role} class={`health-${health(f.successRate, f.requests)}`}>
      <td>{role === 'old' ? 'old' : 'new'}: <a href={serviceHref(name)}>{name}</a></td>
      <td class="num" data-field="requests">{f.requests}</td>
      <td class="num" data-field="rps">{fmtRps(f.rps)}</td>
      <td class="num" data-field="success">{fmtPct(f.successRate, 2)}</td>
      <td class="num" data-field="p99">{fmtMs(f.p99Ms)}</td>
    </tr>
  );
}

function LiveStep({ r, now }: { r: RolloutView; now: number }) {
  const live = r.live;
  if (r.phase !== 'progressing') return null;
  const judgedIn = Math.max(0, r.stepStartedAt + r.intervalMs * (r.graceUsed + 1) - now);
  return (
    <section class="live-step" aria-label="The step in force" data-testid="rollout-live">
      <h3>
        Step {r.stepIndex + 1} ({r.steps[r.stepIndex]}%) so far
        <span class="muted small"> · {!live ? 'no traffic figures (telemetry is off)' : live.windowMs > 0 ? `its first ${fmtDuration(live.windowMs)}` : 'waiting for the first scrape of the step'} · judged in {fmtDuration(judgedIn)}</span>
      </h3>
      {live && (
        <table>
          <thead><tr><th>Backend</th><th class="num">Requests</th><th class="num">RPS</th><th class="num">Success</th><th class="num">p99</th></tr></thead>
          <tbody>
            <LiveRow role="old" name={r.from} f={live.from} />
            <LiveRow role="new" name={r.to} f={live.to} />
          </tbody>
        </table>
      )}
    </section>
  );
}

function Rollout({ r, now }: { r: RolloutView; now: number }) {
  const total = r.weights.from + r.weights.to;
  return (
    <article class="rollout" data-rollout={r.service} data-phase={r.phase}>
      <h2>
        <a href={serviceHref(r.service)}>{r.service}</a>: {r.from} → {r.to}{' '}
        <span class={`badge ${phaseClass[r.phase]}`} data-testid="rollout-phase">{r.phase}</span>
      </h2>
      <Steps r={r} />
      <p data-testid="rollout-weights">
        Weights now: <strong data-backend={r.from}>{r.from} {r.weights.from}</strong> : <strong data-backend={r.to}>{r.to} {r.weights.to}</strong>
        {total > 0 && <> ({fmtPct(r.weights.to / total, 0)} to {r.to})</>} · every {r.intervalMs / 1000}s · routes {r.routes.join(', ') || none}
      </p>
      <LiveStep r={r} now={now} />
      <h3>Verdicts</h3>
      <table data-testid="rollout-verdicts">
        <thead>
          <tr><th>Step</th><th>Verdict</th><th class="num">New requests</th><th class="num">New success</th><th class="num">New p99</th><th class="num">Old requests</th><th class="num">Old success</th><th class="num">Old p99</th><th>Why</th></tr>
        </thead>
        <tbody>
          {r.history.length === 0 && <tr><td colSpan={9} class="muted">not judged yet</td></tr>}
          {r.history.map((h) => (
            <tr key={h.judgedAt} data-step={h.step} data-verdict={h.verdict}>
              <td>{h.step} ({h.percent}%)</td>
              <td><span class={`badge ${verdictClass[h.verdict]}`}>{h.verdict}</span></td>
              <td class="num">{h.newBackend.requests}</td>
              <td class="num">{fmtPct(h.newBackend.successRate, 2)}</td>
              <td class="num">{fmtMs(h.newBackend.p99Ms)}</td>
              <td class="num">{h.baseline?.requests ?? none}</td>
              <td class="num">{fmtPct(h.baseline?.successRate, 2)}</td>
              <td class="num">{fmtMs(h.baseline?.p99Ms)}</td>
              <td>{h.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>Events</summary>
        <ul>{r.events.slice(-20).map((e, i) => <li key={i}><time>{e.at}</time> {e.message}</li>)}</ul>
      </details>
    </article>
  );
}

export function PageCanaries() {
  const [rollouts] = useTopic('rollouts');
  const connection = useConnection();
  const now = useNow(1000);
  return (
    <section class="canaries">
      <h1 tabIndex={-1}>Canary rollouts</h1>
      <p class="hint" data-testid="rollouts-summary">
        {rollouts === undefined ? (connection.state === 'error' ? connection.message : 'Waiting for the control plane…')
          : rollouts.length === 0 ? <>No rollouts yet. Start one with <code>trellis canary SERVICE --to NEW_BACKEND</code>.</>
            : `${rollouts.filter((r) => r.phase === 'progressing').length} progressing, ${rollouts.length} in all`}
      </p>
      {(rollouts ?? []).map((r) => <Rollout key={`${r.namespace}/${r.service}`} r={r} now={now} />)}
    </section>
  );
}
