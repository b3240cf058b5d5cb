import http from 'node:http';

export interface TrafficStats { sent: number; ok: number; failed: number; byApiVersion: Record<string, number>; errors: Record<string, number> }

/** A steady, bounded stream of requests to the ingress so the mesh always has traffic to show. */
export class TrafficGenerator {
  private timer?: NodeJS.Timeout;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private window: TrafficStats = emptyStats();

  constructor(private readonly target: { host: string; port: number }, private readonly rps: number) {}

  start(): void {
    const interval = Math.max(1, Math.round(1000 / this.rps));
    this.timer = setInterval(() => this.fire(), interval);
  }

  stop(): void {
    clearInterval(this.timer);
    this.agent.destroy();
  }

  /** Stats since the last call. */
  take(): TrafficStats {
    const w = this.window;
    this.window = emptyStats();
    return w;
  }

  private fire(): void {
    const w = this.window;
    w.sent++;
    const req = http.get({ ...this.target, path: '/', agent: this.agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200) {
          w.ok++;
          try {
            const v = (JSON.parse(Buffer.concat(chunks).toString()) as { api?: { version?: string } }).api?.version ?? 'unknown';
            w.byApiVersion[v] = (w.byApiVersion[v] ?? 0) + 1;
          } catch { /* not JSON: count as ok without a version */ }
        } else {
          w.failed++;
          const code = String(res.headers['x-trellis-error'] ?? res.statusCode);
          w.errors[code] = (w.errors[code] ?? 0) + 1;
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      w.failed++;
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      w.errors[code] = (w.errors[code] ?? 0) + 1;
    });
  }
}

function emptyStats(): TrafficStats {
  return { sent: 0, ok: 0, failed: 0, byApiVersion: {}, errors: {} };
}

export function describeStats(s: TrafficStats, seconds: number): string {
  const done = s.ok + s.failed;
  const pct = (n: number) => (done ? ((100 * n) / done).toFixed(1) : '0.0');
  const versions = Object.entries(s.byApiVersion).sort().map(([v, n]) => `${v} ${pct(n)}%`).join(' / ') || '-';
  const errors = Object.entries(s.errors).map(([e, n]) => `${e}×${n}`).join(' ');
  return `traffic: ${done} requests in ${seconds}s, ${pct(s.ok)}% ok, api ${versions}${errors ? `, errors: ${errors}` : ''}`;
}
