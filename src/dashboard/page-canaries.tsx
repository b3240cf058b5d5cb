// Rollouts the control plane runs (`trellis canary`): each one's phase, step and weights, every
// verdict with the figures it judged, and the latest events. Polled every 2 s: rollouts are not
// one of the event stream's topics, and a step lasts seconds at the least.
import { useEffect, useState } from 'preact/hooks';
import { apiGet } from './api-client.js';
import { serviceHref } from './hash-route.js';
import { fmtMs, fmtPct, none } from './format.js';

// The shape of GET /api/v1/rollouts (src/control/rollout/rollout-state.ts), as far as the page reads it.
interface Figures { requests: number; successRate: number | null; p99Ms: number | null }
interface Rollout {
  service: string;
  namespace: string;
  from: string;
  to: string;
  steps: number[];
  intervalMs: number;
  phase: 'progressing' | 'completed' | 'rolled-back' | 'aborted';
  stepIndex: number;
  weights: { from: number; to: number };
  history: { step: number; percent: number; verdict: 'pass' | 'fail' | 'no-traffic'; reason: string; newBackend: Figures; baseline: Figures | null; judgedAt: string }[];
  events: { at: string; message: string }[];
}

const phaseClass: Record<Rollout['phase'], string> = { progressing: 'warn', completed: 'good', 'rolled-back': 'bad', aborted: 'bad' };
const verdictClass = { pass: 'good', fail: 'bad', 'no-traffic': 'warn' } as const;

function useRollouts(): [Rollout[] | undefined, string | null] {
  const [rollouts, setRollouts] = useState<Rollout[] | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        setRollouts(await apiGet<Rollout[]>('/api/v1/rollouts', abort.signal));
        setError(null);
      } catch (err) {
        if (!abort.signal.aborted) setError((err as Error).message);
      }
      if (!abort.signal.aborted) timer = setTimeout(poll, 2000);
    };
    void poll();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, []);
  return [rollouts, error];
}

export function PageCanaries() {
  const [rollouts, error] = useRollouts();
  return (
    <section class="canaries">
      <h1 tabIndex={-1}>Canary rollouts</h1>
      <p class="hint">
        {error ? <strong class="bad-text">{error}</strong>
          : rollouts === undefined ? 'Waiting for the control plane…'
            : rollouts.length === 0 ? <>No rollouts yet. Start one with <code>trellis canary SERVICE --to NEW_BACKEND</code>.</>
              : `${rollouts.filter((r) => r.phase === 'progressing').length} progressing, ${rollouts.length} in all`}
      </p>
      {(rollouts ?? []).map((r) => (
        <article key={`${r.namespace}/${r.service}`} data-rollout={r.service} data-phase={r.phase}>
          <h2>
            <a href={serviceHref(r.service)}>{r.service}</a>: {r.from} → {r.to}{' '}
            <span class={`badge ${phaseClass[r.phase]}`}>{r.phase}</span>
          </h2>
          <p>
            Step {r.stepIndex + 1} of {r.steps.length} ({r.steps.map((s, i) => (i === r.stepIndex ? <strong key={i}>{s}%</strong> : <span key={i}>{s}%</span>))
              .reduce<preact.ComponentChildren[]>((acc, el, i) => (i === 0 ? [el] : [...acc, ' · ', el]), [])}),
            every {r.intervalMs / 1000}s · weights {r.from} {r.weights.from} : {r.to} {r.weights.to}
          </p>
          <table>
            <thead>
              <tr><th>Step</th><th>Verdict</th><th class="num">New requests</th><th class="num">New success</th><th class="num">New p99</th><th class="num">Old requests</th><th class="num">Old success</th><th class="num">Old p99</th><th>Why</th></tr>
            </thead>
            <tbody>
              {r.history.length === 0 && <tr><td colSpan={9} class="muted">not judged yet</td></tr>}
              {r.history.map((h) => (
                <tr key={h.judgedAt}>
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
      ))}
    </section>
  );
}
