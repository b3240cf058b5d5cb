// API routes of rollouts (`trellis canary`): start one, list them, show one, abort it, roll it back.
import type { IncomingMessage } from 'node:http';
import type { RolloutController, RolloutResult, StartRollout } from '../rollout/rollout-controller.js';
import { readBody } from './read-body.js';

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>;

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function rolloutRoutes(rollouts: RolloutController | undefined): { pattern: RegExp; methods: Partial<Record<string, Handler>> }[] {
  if (!rollouts) {
    const unavailable = async (): Promise<[number, unknown]> => [503, { error: 'this control plane runs no rollout controller' }];
    return [{ pattern: /^\/api\/v1\/rollouts(\/.*)?$/, methods: { GET: unavailable, POST: unavailable } }];
  }
  const answer = (r: RolloutResult): [number, unknown] => (r.ok ? [200, rollouts.view(r.rollout)] : [r.status, { error: r.error }]);
  return [
    {
      pattern: /^\/api\/v1\/rollouts$/,
      methods: {
        GET: async (_req, url) => {
          const service = url.searchParams.get('service');
          return [200, rollouts.list().filter((r) => !service || r.service === service).map((r) => rollouts.view(r))];
        },
        POST: async (req) => {
          const body = await readBody(req);
          if (!body.ok) return [413, { error: 'request body is larger than 4 MiB' }];
          let spec: unknown;
          try {
            spec = JSON.parse(body.text);
          } catch {
            return [400, { error: 'the body must be JSON' }];
          }
          const checked = checkStart(spec);
          if (typeof checked === 'string') return [400, { error: checked }];
          const r = await rollouts.start(checked);
          return r.ok ? [201, rollouts.view(r.rollout)] : [r.status, { error: r.error }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/rollouts\/([^/]+)\/([^/]+)$/,
      methods: {
        GET: async (_req, _url, [namespace, service]) => {
          const r = rollouts.get(namespace, service);
          return r ? [200, rollouts.view(r)] : [404, { error: `no rollout of ${namespace}/${service}` }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/rollouts\/([^/]+)\/([^/]+)\/(abort|rollback)$/,
      methods: {
        POST: async (_req, _url, [namespace, service, action]) =>
          answer(action === 'abort' ? await rollouts.abort(namespace, service) : await rollouts.rollback(namespace, service)),
      },
    },
  ];
}

/** The POST body's shape, checked field by field; the controller checks what the values mean. */
function checkStart(v: unknown): StartRollout | string {
  if (typeof v !== 'object' || v === null) return 'the body must be a JSON object';
  const b = v as Record<string, unknown>;
  for (const f of ['service', 'to'] as const) {
    if (typeof b[f] !== 'string' || !dnsLabel.test(b[f] as string)) return `"${f}" is required: a DNS label such as "reviews"`;
  }
  for (const f of ['from', 'namespace'] as const) {
    if (b[f] !== undefined && (typeof b[f] !== 'string' || !dnsLabel.test(b[f] as string))) return `"${f}" must be a DNS label`;
  }
  if (!Array.isArray(b.steps) || !b.steps.every((s) => typeof s === 'number')) return '"steps" must be a list of percentages';
  if (typeof b.intervalMs !== 'number') return '"intervalMs" must be a number';
  const t = (b.thresholds ?? {}) as Record<string, unknown>;
  if (typeof t !== 'object') return '"thresholds" must be an object';
  for (const f of ['maxErrorRateIncrease', 'maxP99Ratio', 'minRequests'] as const) {
    if (t[f] !== undefined && typeof t[f] !== 'number') return `"thresholds.${f}" must be a number`;
  }
  return {
    service: b.service as string, to: b.to as string, from: b.from as string | undefined,
    namespace: b.namespace as string | undefined, steps: b.steps as number[], intervalMs: b.intervalMs,
    thresholds: {
      maxErrorRateIncrease: t.maxErrorRateIncrease as number | undefined,
      maxP99Ratio: t.maxP99Ratio as number | undefined,
      minRequests: t.minRequests as number | undefined,
    },
  };
}
