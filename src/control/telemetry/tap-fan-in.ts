// `trellis tap SERVICE`: the control plane opens the admin `/tap` stream of every sidecar that
// sees the service's traffic (its own sidecars, inbound side; every other sidecar, outbound side
// towards it) and merges their NDJSON lines into one stream, stopping at `max` events overall.
import http from 'node:http';
import type { Instance } from '../registry.js';

export interface TapQuery {
  service: string;
  namespace: string;
  path?: string;
  status?: string;
  /** 0 = until the client leaves. */
  max: number;
}

export interface TapTarget {
  proxyId: string;
  service: string;
  direction: 'inbound' | 'outbound';
  address: string;
  adminPort: number;
  path: string;
}

/** Which sidecars to tap and with what admin query. */
export function tapTargets(instances: readonly Instance[], q: TapQuery): TapTarget[] {
  const fqn = `${q.service}.${q.namespace}`;
  const targets: TapTarget[] = [];
  for (const inst of instances) {
    if (!inst.connected || inst.adminPort <= 0) continue;
    const own = inst.service === q.service && inst.namespace === q.namespace;
    const params = new URLSearchParams({ direction: own ? 'inbound' : 'outbound' });
    if (!own) params.set('service', fqn);
    if (q.path) params.set('path', q.path);
    if (q.status) params.set('status', q.status);
    if (q.max > 0) params.set('max', String(q.max));
    targets.push({
      proxyId: inst.proxyId, service: inst.service, direction: own ? 'inbound' : 'outbound',
      address: inst.address, adminPort: inst.adminPort, path: `/tap?${params}`,
    });
  }
  return targets;
}

export interface TapSink {
  /** One NDJSON line (with its newline); false = the client is slow, pause the sources. */
  line(line: string): boolean;
  end(): void;
  onDrain(cb: () => void): void;
}

/** The Authorization header value that proves the control plane to one sidecar's admin tap (a tap grant). */
export type TapAuthorizer = (proxyId: string, target: string) => Promise<string>;

/**
 * A running fan-in. Lines that are not request events (the sidecars' `dropped` counts) pass
 * through and do not count towards `max`.
 */
export class TapFanIn {
  private readonly requests = new Set<http.ClientRequest>();
  private readonly responses = new Set<http.IncomingMessage>();
  private events = 0;
  private open = 0;
  private done = false;
  private paused = false;

  constructor(private readonly targets: readonly TapTarget[], private readonly max: number, private readonly sink: TapSink, private readonly authorize?: TapAuthorizer) {}

  start(): void {
    this.sink.line(JSON.stringify({ type: 'open', targets: this.targets.map((t) => ({ proxy: t.proxyId, service: t.service, direction: t.direction })) }) + '\n');
    if (this.targets.length === 0) {
      this.finish();
      return;
    }
    for (const t of this.targets) this.connect(t);
  }

  /** The client left, or the server closes: stop every source. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    for (const r of this.requests) r.destroy();
    this.requests.clear();
    this.responses.clear();
  }

  private connect(t: TapTarget): void {
    this.open++;
    if (!this.authorize) {
      this.request(t, {});
      return;
    }
    this.authorize(t.proxyId, t.path).then(
      (authorization) => {
        if (!this.done) this.request(t, { authorization });
      },
      (err: Error) => {
        this.sourceError(t, `cannot sign a tap grant: ${err.message}`);
        if (--this.open === 0) this.finish();
      },
    );
  }

  private request(t: TapTarget, headers: Record<string, string>): void {
    const req = http.get({ host: t.address, port: t.adminPort, path: t.path, headers, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        // the sidecar's reason (a refused grant says why) in a line, bounded
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { if (text.length < 300) text += c; });
        res.on('end', () => {
          this.sourceError(t, `admin answered ${res.statusCode}${text.trim() ? `: ${text.trim().slice(0, 300)}` : ''}`);
          this.sourceEnded(req);
        });
        res.on('error', () => this.sourceEnded(req));
        return;
      }
      this.responses.add(res);
      if (this.paused) res.pause();
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i + 1);
          buf = buf.slice(i + 1);
          this.forward(line);
        }
      });
      res.on('end', () => {
        this.responses.delete(res);
        this.sourceEnded(req);
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      this.sourceError(t, err.message);
      this.sourceEnded(req);
    });
    this.requests.add(req);
  }

  private forward(line: string): void {
    if (this.done) return;
    const isEvent = line.startsWith('{"type":"request"');
    if (!this.sink.line(line) && !this.paused) {
      this.paused = true;
      for (const r of this.responses) r.pause();
      this.sink.onDrain(() => {
        this.paused = false;
        for (const r of this.responses) r.resume();
      });
    }
    if (isEvent && this.max > 0 && ++this.events >= this.max) this.finish();
  }

  private sourceError(t: TapTarget, error: string): void {
    if (!this.done) this.sink.line(JSON.stringify({ type: 'error', proxy: t.proxyId, error }) + '\n');
  }

  private sourceEnded(req: http.ClientRequest): void {
    if (!this.requests.delete(req)) return;
    // Every source finished (each reached max, or went away): nothing more will come.
    if (--this.open === 0) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.stop();
    this.sink.end();
  }
}
