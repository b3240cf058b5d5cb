// A sidecar's admin endpoint as the bench reads it: its config dump (identity) and its metrics.
import { ports } from '../src/common/ports.js';

const identityTimeoutMs = 20_000;

export async function adminDump(address: string): Promise<Record<string, any>> {
  return await (await fetch(`http://${address}:${ports.proxyAdmin}/config_dump`, { signal: AbortSignal.timeout(5000) })).json() as Record<string, any>;
}

export async function metricsText(address: string): Promise<string> {
  return await (await fetch(`http://${address}:${ports.proxyAdmin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
}

/** Sum of the samples (Prometheus text) whose line `match` accepts. */
export function sumSamples(text: string, match: (line: string) => boolean): number {
  let sum = 0;
  for (const line of text.split('\n')) if (!line.startsWith('#') && match(line)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** Sum of the samples of a Prometheus counter whose line starts with `prefix`. */
export async function counter(address: string, prefix: string): Promise<number> {
  return sumSamples(await metricsText(address), (line) => line.startsWith(prefix));
}

/** The SPIFFE id of the sidecar's workload certificate, once it holds one. */
export async function waitIdentity(address: string): Promise<string | Error> {
  const deadline = Date.now() + identityTimeoutMs;
  let last = 'no identity yet';
  while (Date.now() < deadline) {
    try {
      const id = (await adminDump(address)).identity as { spiffeId?: string; lastError?: string | null } | undefined;
      if (typeof id?.spiffeId === 'string') return id.spiffeId;
      last = id?.lastError ?? last;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return new Error(`no workload certificate at ${address} within ${identityTimeoutMs / 1000}s: ${last}`);
}

export const inboundHandshakes = 'trellis_tls_handshakes_total{direction="inbound"';
export const outboundHandshakes = 'trellis_tls_handshakes_total{direction="outbound"';
