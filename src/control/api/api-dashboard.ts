// The web dashboard's side of the control plane: the static files esbuild built from
// src/dashboard (served at `/`), and `/api/v1/events`, a server-sent-events stream that pushes
// each read endpoint's rows when they change. One poller serves every open stream, runs only
// while a stream is open, and sends a topic only when its JSON differs from what was last sent,
// so a dashboard left open on a quiet mesh costs almost nothing.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import { packagePath } from '../../common/package-root.js';

/** What each event of the stream carries: the body of that GET, as the JSON API answers it. */
export const dashboardTopics = {
  proxies: '/api/v1/proxies',
  services: '/api/v1/services',
  routes: '/api/v1/routes',
  grpcroutes: '/api/v1/grpcroutes',
  endpoints: '/api/v1/endpoints',
  policies: '/api/v1/policies',
  stats: '/api/v1/stats?window=1m',
  rollouts: '/api/v1/rollouts',
} as const;

export type DashboardTopic = keyof typeof dashboardTopics;

export interface DashboardOptions {
  /** Answers a GET of one API path exactly as the JSON API would: [status, body]. */
  read: (apiPath: string) => Promise<[number, unknown]>;
  /** Sources of changes worth pushing before the next tick (registry, store); each returns an unsubscribe. */
  changes?: ((cb: () => void) => () => void)[];
  /** Where the built files are; by default dist/dashboard beside the compiled control plane. */
  staticDir?: string;
  intervalMs?: number;
  logger?: Logger;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// Styles: uPlot and cytoscape size their elements through inline style attributes.
const csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const defaultStaticDir = packagePath('dist', 'dashboard');

// A quiet stream still writes this often, so idle proxies and browsers keep the connection.
const keepAliveMs = 15_000;

export class Dashboard {
  private readonly staticDir: string;
  private readonly intervalMs: number;
  private readonly clients = new Set<ServerResponse>();
  private readonly lastSent = new Map<DashboardTopic, string>();
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastWriteAt = 0;
  private closed = false;

  constructor(private readonly opts: DashboardOptions) {
    this.staticDir = opts.staticDir ?? defaultStaticDir;
    this.intervalMs = opts.intervalMs ?? 2000;
    for (const subscribe of opts.changes ?? []) this.unsubscribe.push(subscribe(() => this.refreshSoon()));
  }

  /**
   * Serves the dashboard's files (`/`, `/main.js`, ...) when the request is for one; false leaves it
   * to the API. They hold no mesh data, so they need no token: the page must load to ask for one.
   */
  serveStatic(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    // top-level file names only: nothing can climb out of the static folder
    const file = pathname === '/' ? 'index.html' : /^\/[\w-]+(\.[\w-]+)+$/.test(pathname) ? pathname.slice(1) : undefined;
    if (file === undefined) return false;
    void this.serveFile(file, req, res);
    return true;
  }

  /** Opens an event stream when the request is for `/api/v1/events`; call it after the API's token check, like any read. */
  serveEvents(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== '/api/v1/events' || req.method !== 'GET') return false;
    void this.openStream(req, res);
    return true;
  }

  /** Ends every stream and stops polling. */
  close(): void {
    this.closed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stopTimers();
  }

  get streamCount(): number {
    return this.clients.size;
  }

  private async serveFile(file: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readFile(path.join(this.staticDir, file));
    } catch {
      if (file === 'index.html') {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`The dashboard is not built (no ${path.join(this.staticDir, file)}): run \`npm run build\`.\n`);
      } else {
        const text = JSON.stringify({ error: `no such file: /${file}` }) + '\n';
        res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
      return;
    }
    res.writeHead(200, {
      'content-type': contentTypes[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      // index.html names the bundle without a hash, so nothing may be cached stale after an upgrade
      'cache-control': 'no-cache',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async openStream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write(`retry: ${this.intervalMs}\n\n`);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopTimers();
    });
    // a newcomer gets every topic at once, then only changes
    await this.refresh();
    if (res.destroyed || this.closed) return;
    for (const [topic, json] of this.lastSent) res.write(frame(topic, json));
    this.clients.add(res);
    this.timer ??= setInterval(() => void this.refresh(), this.intervalMs);
  }

  private refreshSoon(): void {
    if (this.clients.size === 0 || this.soon) return;
    // changes come in bursts (a proxy connects and ACKs several types): one push for the burst
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh();
    }, 200);
  }

  private refresh(): Promise<void> {
    this.running ??= this.poll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async poll(): Promise<void> {
    const topics = Object.keys(dashboardTopics) as DashboardTopic[];
    const answers = await Promise.all(topics.map(async (t) => {
      try {
        return await this.opts.read(dashboardTopics[t]);
      } catch (err) {
        // e.g. telemetry not running: the dashboard shows what it has
        this.opts.logger?.debug({ err, topic: t }, 'dashboard topic unavailable');
        return [500, undefined] as [number, unknown];
      }
    }));
    let out = '';
    topics.forEach((topic, i) => {
      const [status, body] = answers[i];
      if (status !== 200) return;
      const json = JSON.stringify(body);
      if (this.lastSent.get(topic) === json) return;
      this.lastSent.set(topic, json);
      out += frame(topic, json);
    });
    const now = Date.now();
    if (!out && now - this.lastWriteAt >= keepAliveMs) out = ': keep-alive\n\n';
    if (!out) return;
    this.lastWriteAt = now;
    for (const res of this.clients) res.write(out);
  }

  private stopTimers(): void {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
  }
}

function frame(topic: string, json: string): string {
  // JSON.stringify never emits a raw newline, so the whole body fits one data line
  return `event: ${topic}\ndata: ${json}\n\n`;
}
