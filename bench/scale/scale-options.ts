import { parseArgs } from 'node:util';

export interface ScaleOptions {
  sidecars: number;
  services: number;
  endpoints: number;
  egress: number;
  /** Child processes the simulated sidecars are spread over. */
  processes: number;
  /** Rounds of changes (route, endpoint added, endpoint removed, burst); medians over them. */
  repeats: number;
  /** Route changes applied back to back in the burst round. */
  burst: number;
  /** The control plane's debounce (its --debounce / --debounce-max), in ms. */
  debounceMs: number;
  debounceMaxMs: number;
  /** Address the control plane listens on (xDS 15010, API 15080). */
  address: string;
  /** Longest wait for any one phase, in ms. */
  timeoutMs: number;
  output: 'table' | 'json';
  /** Results file; default bench/results/scale-<time>.json. */
  out: string | null;
}

export const defaultScaleOptions: ScaleOptions = {
  sidecars: 1000, services: 500, endpoints: 10_000, egress: 10, processes: 4, repeats: 5, burst: 5,
  debounceMs: 100, debounceMaxMs: 1000, address: '127.0.81.254', timeoutMs: 120_000, output: 'table', out: null,
};

export const scaleUsage = `Usage: npm run bench:scale -- [options]
  --sidecars N        simulated sidecars, each a real ADS client with its own Node (default 1000)
  --services N        Service resources (default 500)
  --endpoints N       endpoints in all: each sidecar is an endpoint of endpoints/sidecars Services (default 10000)
  --egress N          services each sidecar calls (its egress list; default 10)
  --processes N       processes the sidecars are spread over (default 4)
  --repeats N         rounds of changes; the report gives medians (default 5)
  --burst N           route changes applied back to back in the burst round (default 5)
  --debounce MS       the control plane's --debounce (default 100)
  --debounce-max MS   the control plane's --debounce-max (default 1000)
  --address ADDR      control plane address, in 127.0.80.0/23 (default 127.0.81.254)
  --timeout MS        longest wait for one phase (default 120000)
  -o table|json       output format (default table)
  --out FILE          results file (default bench/results/scale-<time>.json)`;

export function parseScaleOptions(argv: readonly string[]): ScaleOptions | Error {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv], strict: true,
      options: {
        sidecars: { type: 'string' }, services: { type: 'string' }, endpoints: { type: 'string' }, egress: { type: 'string' },
        processes: { type: 'string' }, repeats: { type: 'string' }, burst: { type: 'string' }, debounce: { type: 'string' },
        'debounce-max': { type: 'string' }, address: { type: 'string' }, timeout: { type: 'string' },
        output: { type: 'string', short: 'o' }, out: { type: 'string' },
      },
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    return new Error(`${(err as Error).message}\n${scaleUsage}`);
  }
  const o = { ...defaultScaleOptions };
  const ints: [keyof ScaleOptions, string, number][] = [
    ['sidecars', 'sidecars', 1], ['services', 'services', 1], ['endpoints', 'endpoints', 1], ['egress', 'egress', 1], ['processes', 'processes', 1],
    ['repeats', 'repeats', 1], ['burst', 'burst', 2], ['debounceMs', 'debounce', 0], ['debounceMaxMs', 'debounce-max', 0], ['timeoutMs', 'timeout', 1000],
  ];
  for (const [key, flag, min] of ints) {
    const text = values[flag];
    if (text === undefined) continue;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) return new Error(`--${flag}: expected an integer of at least ${min}, got "${text}"`);
    (o as Record<string, unknown>)[key] = n;
  }
  if (values.output !== undefined) {
    if (values.output !== 'table' && values.output !== 'json') return new Error(`-o: expected table or json, got "${values.output}"`);
    o.output = values.output;
  }
  if (values.address !== undefined) {
    if (!/^127\.0\.8[01]\.\d{1,3}$/.test(values.address)) return new Error(`--address: expected an address in 127.0.80.0/23 (the bench's range), got "${values.address}"`);
    o.address = values.address;
  }
  if (values.out !== undefined) o.out = values.out;
  if (o.debounceMaxMs < o.debounceMs) return new Error(`--debounce-max (${o.debounceMaxMs}) must be at least --debounce (${o.debounceMs})`);
  if (o.processes > o.sidecars) o.processes = o.sidecars;
  return o;
}
