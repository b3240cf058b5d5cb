// `trellis canary`: start a canary or blue/green rollout that the control plane runs, show where
// rollouts stand, abort one, or switch back at once.
import { apiRequest } from './api-client.js';
import { age, printJson, printTable, type OutputFormat } from './output.js';
import type { RolloutState } from '../control/rollout/rollout-state.js';

export interface CanaryStartOptions {
  namespace: string;
  to: string;
  from?: string;
  steps: number[];
  intervalMs: number;
  maxErrorRateIncrease?: number;
  maxP99Ratio?: number;
  minRequests?: number;
  output: OutputFormat;
}

/** "1,5,25,50,100" → [1, 5, 25, 50, 100]; the control plane checks order and range. */
export function parseSteps(value: string): number[] {
  const steps = value.split(',').map((s) => s.trim().replace(/%$/, ''));
  if (steps.some((s) => !/^\d+(\.\d+)?$/.test(s))) throw new Error(`--steps: "${value}" is not a list of percentages such as 1,5,25,50,100`);
  return steps.map(Number);
}

export async function canaryStartCommand(apiUrl: string, service: string, o: CanaryStartOptions): Promise<number> {
  // not a commander requiredOption: that would be demanded of `canary status` too
  if (!o.to) throw new Error('--to <backend> is required: the new backend Service');
  const body = {
    service, namespace: o.namespace, to: o.to, from: o.from, steps: o.steps, intervalMs: o.intervalMs,
    thresholds: { maxErrorRateIncrease: o.maxErrorRateIncrease, maxP99Ratio: o.maxP99Ratio, minRequests: o.minRequests },
  };
  const r = await apiRequest<RolloutState>(apiUrl, 'POST', '/api/v1/rollouts', JSON.stringify(body), { 'content-type': 'application/json' });
  if (o.output === 'json') {
    printJson(r);
    return 0;
  }
  const kind = r.steps.length === 1 ? 'blue/green switch' : 'canary';
  process.stdout.write(`${kind} of ${r.namespace}/${r.service} started: ${r.from} → ${r.to}, steps ${r.steps.join(',')}%, every ${r.intervalMs / 1000}s (routes ${r.routes.join(', ')})\n`);
  process.stdout.write(`follow it with: trellis canary status ${r.service}\n`);
  return 0;
}

export async function canaryStatusCommand(apiUrl: string, service: string | undefined, namespace: string, output: OutputFormat): Promise<number> {
  const rollouts = service
    ? [await apiRequest<RolloutState>(apiUrl, 'GET', `/api/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(service)}`)]
    : await apiRequest<RolloutState[]>(apiUrl, 'GET', '/api/v1/rollouts');
  if (output === 'json') {
    printJson(service ? rollouts[0] : rollouts);
    return 0;
  }
  const now = Date.now();
  printTable(rollouts, [
    ['SERVICE', (r) => `${r.namespace}/${r.service}`],
    ['FROM', (r) => r.from],
    ['TO', (r) => r.to],
    ['PHASE', (r) => r.phase],
    ['STEP', (r) => `${r.stepIndex + 1}/${r.steps.length} (${r.steps[r.stepIndex]}%)`],
    ['WEIGHTS', (r) => `${r.weights.from}:${r.weights.to}`],
    ['LAST VERDICT', (r) => {
      const last = r.history.at(-1);
      return last ? `${last.verdict} (step ${last.step})` : '-';
    }],
    ['AGE', (r) => age(r.createdAt, now)],
  ], 'No rollouts.');
  if (service) {
    const r = rollouts[0];
    if (r.history.length > 0) {
      process.stdout.write('\nVerdicts:\n');
      printTable(r.history, [
        ['STEP', (h) => `${h.step} (${h.percent}%)`],
        ['VERDICT', (h) => h.verdict],
        ['NEW REQ', (h) => h.newBackend.requests],
        ['NEW SUCCESS', (h) => rate(h.newBackend.successRate)],
        ['NEW P99', (h) => msOrDash(h.newBackend.p99Ms)],
        ['OLD REQ', (h) => h.baseline?.requests],
        ['OLD SUCCESS', (h) => rate(h.baseline?.successRate ?? null)],
        ['OLD P99', (h) => msOrDash(h.baseline?.p99Ms ?? null)],
        ['REASON', (h) => h.reason],
      ]);
    }
    process.stdout.write('\nEvents:\n');
    for (const e of r.events.slice(-20)) process.stdout.write(`  ${e.at}  ${e.message}\n`);
  }
  return 0;
}

export async function canaryActionCommand(apiUrl: string, action: 'abort' | 'rollback', service: string, namespace: string): Promise<number> {
  const r = await apiRequest<RolloutState>(apiUrl, 'POST', `/api/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(service)}/${action}`);
  process.stdout.write(`${r.namespace}/${r.service}: ${r.phase}; 100% to ${r.from}\n`);
  return 0;
}

function rate(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(2)}%`;
}

function msOrDash(x: number | null): string {
  return x === null ? '-' : `${x.toFixed(1)}ms`;
}
