// API routes of the control plane's telemetry: golden metrics (`trellis stat`), their history
// (the dashboard), and the Prometheus service-discovery targets (`trellis prometheus-config`).
import type { IncomingMessage } from 'node:http';
import type { ControlTelemetry } from '../telemetry/control-telemetry.js';
import { formatWindow } from '../telemetry/stats-history.js';

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>;

const maxWindowMs = 3_600_000;

/** "30s", "1m", "1h", "500ms" → ms; an error message otherwise. */
export function parseWindow(value: string | null, fallbackMs: number, what = 'window'): number | string {
  if (value === null || value === '') return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return `${what} "${value}" is not a duration such as 30s, 1m or 1h`;
  const ms = Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']);
  if (ms < 1000 || ms > maxWindowMs) return `${what} must be between 1s and ${formatWindow(maxWindowMs)}`;
  return ms;
}

export function statsRoutes(telemetry: ControlTelemetry | undefined): { pattern: RegExp; methods: Partial<Record<string, Handler>> }[] {
  const unavailable = async (): Promise<[number, unknown]> => [503, { error: 'telemetry is not running in this control plane' }];
  if (!telemetry) {
    return [{ pattern: /^\/api\/v1\/(stats|stats\/history|prometheus\/targets|prometheus\/http-sd)$/, methods: { GET: unavailable } }];
  }
  const history = telemetry.collector.history;
  return [
    {
      pattern: /^\/api\/v1\/stats$/,
      methods: {
        GET: async (_req, url) => {
          const windowMs = parseWindow(url.searchParams.get('window'), 60_000);
          if (typeof windowMs === 'string') return [400, { error: windowMs }];
          return [200, history.query(windowMs, url.searchParams.get('service') || undefined)];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/stats\/history$/,
      methods: {
        // a service's (what it served), or with from and to an edge's (what the caller sent the callee)
        GET: async (_req, url) => {
          const service = url.searchParams.get('service');
          const from = url.searchParams.get('from');
          const to = url.searchParams.get('to');
          if (service && (from || to)) return [400, { error: 'service, or from and to, not both' }];
          if (!service && !from && !to) return [400, { error: 'service is required, e.g. /api/v1/stats/history?service=web (or from and to for a call, e.g. ?from=web&to=api)' }];
          if (!service && !from) return [400, { error: 'from is required with to: the calling service, e.g. ?from=web&to=api' }];
          if (!service && !to) return [400, { error: 'to is required with from: the called service, e.g. ?from=web&to=api' }];
          const windowMs = parseWindow(url.searchParams.get('window'), 15 * 60_000);
          if (typeof windowMs === 'string') return [400, { error: windowMs }];
          const stepMs = parseWindow(url.searchParams.get('step'), Math.max(10_000, windowMs / 90), 'step');
          if (typeof stepMs === 'string') return [400, { error: stepMs }];
          const span = { window: formatWindow(windowMs), step: formatWindow(stepMs) };
          return service
            ? [200, { service, ...span, points: history.series(service, windowMs, stepMs) }]
            : [200, { from, to, ...span, points: history.edgeSeries(from!, to!, windowMs, stepMs) }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/prometheus\/targets$/,
      methods: { GET: async () => [200, { file: telemetry.targets.file, targets: telemetry.targets.current() }] },
    },
    {
      // the bare list, in the shape of Prometheus' http_sd_configs
      pattern: /^\/api\/v1\/prometheus\/http-sd$/,
      methods: { GET: async () => [200, telemetry.targets.current()] },
    },
  ];
}
