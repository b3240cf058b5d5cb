// A real sidecar data path for the hardening tests: one ProxyRuntime whose outbound listener
// sends `Host: app` to its own inbound listener, which hands requests to a recording app (a
// Node http server, strict like any real one) — so a request sent to the outbound port crosses
// both listeners and the upstream client twice. `Host: raw` goes to a raw TCP app that answers
// whatever a test scripts (malformed responses). Addresses: 127.0.73.0/24 (this suite's range;
// a suite that reuses the sidecar passes an address of its own).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ProxyConfig, RouteTable } from '../../../src/proxy/config/proxy-config.js';
import type { ProxyLimits } from '../../../src/proxy/config/proxy-limits.js';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { cluster, endpoint, freePort, prefixRoute, withTimeout } from '../proxy-test-support.js';

export const hardeningHost = (n: number): string => `127.0.73.${n}`;

export interface Recorded {
  method: string;
  url: string;
  body: string;
  /** The whole body arrived (not cut by the sidecar). */
  complete: boolean;
  /** The chunked body's trailer fields as received, name and value alternating. */
  rawTrailers: string[];
}

/**
 * How the app answers one request, called as its head arrives (the body is recorded meanwhile).
 * The default answers `ok METHOD URL` once the body is in, and never answers `/stall...`.
 */
export type AppResponder = (req: http.IncomingMessage, res: http.ServerResponse, rec: Recorded) => void;

const answerOk: AppResponder = (req, res) => {
  req.on('end', () => {
    if (req.url?.startsWith('/stall')) return; // never answers: the upstream side of a stream idle timeout
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`ok ${req.method} ${req.url}\n`);
  });
};

/** The app behind the inbound listener: records every request head it parses, its body and trailers. */
export class RecordingApp {
  readonly requests: Recorded[] = [];
  readonly server: http.Server;
  port = 0;
  constructor(readonly address: string, respond: AppResponder = answerOk) {
    this.server = http.createServer((req, res) => {
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', body: '', complete: false, rawTrailers: [] };
      this.requests.push(rec);
      // latin1 per chunk keeps every byte, and leaves the stream in Buffer mode for a responder that pipes it
      req.on('data', (c: Buffer) => (rec.body += c.toString('latin1')));
      req.on('error', () => undefined);
      req.on('end', () => {
        rec.complete = true;
        rec.rawTrailers = req.rawTrailers;
      });
      respond(req, res, rec);
    });
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, this.address, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  paths(): string[] {
    return this.requests.map((r) => r.url);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** A raw upstream: each connection's requests are answered by `answer(n)`, n counting over all connections. */
export class ScriptedApp {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  connections = 0;
  requests = 0;
  port = 0;
  answer: (n: number) => string = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  constructor(readonly address: string) {
    this.server = net.createServer((s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      let buf = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\r\n\r\n')) !== -1) {
          buf = buf.slice(i + 4);
          s.write(this.answer(this.requests++), 'latin1');
        }
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, this.address, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets) s.destroy();
      this.server.close(() => resolve());
    });
  }
}

export interface Sidecar {
  runtime: ProxyRuntime;
  app: RecordingApp;
  raw: ScriptedApp;
  address: string;
  outboundPort: number;
  inboundPort: number;
  close(): Promise<void>;
}

/** Starts the app (answering with `respond`), the scripted app and the sidecar on `address`, with these limits. */
export async function startSidecar(address: string, limits: Partial<ProxyLimits> = {}, respond?: AppResponder): Promise<Sidecar> {
  const app = new RecordingApp(address, respond);
  const raw = new ScriptedApp(address);
  await Promise.all([app.listen(), raw.listen()]);
  const outboundPort = await freePort(address);
  const inboundPort = await freePort(address);
  const outbound: RouteTable = {
    name: 'outbound',
    virtualHosts: [
      { name: 'app', domains: ['app'], routes: [prefixRoute('app', '/', [['app.default', 1]])] },
      { name: 'raw', domains: ['raw'], routes: [prefixRoute('raw', '/', [['raw.default', 1]])] },
    ],
  };
  const inbound: RouteTable = {
    name: 'inbound',
    virtualHosts: [{ name: 'inbound', domains: ['*'], routes: [
      prefixRoute('inbound-raw', '/raw', [['inbound|raw', 1]]),
      prefixRoute('inbound', '/', [['inbound|local', 1]]),
    ] }],
  };
  const config: ProxyConfig = {
    version: '1',
    listeners: [
      { name: 'outbound', address, port: outboundPort, direction: 'outbound', routeConfigName: 'outbound' },
      { name: 'inbound', address, port: inboundPort, direction: 'inbound', routeConfigName: 'inbound' },
    ],
    routes: new Map([['outbound', outbound], ['inbound', inbound]]),
    clusters: new Map([
      ['app.default', cluster('app.default', { staticEndpoints: [endpoint(address, inboundPort)] })],
      ['raw.default', cluster('raw.default', { staticEndpoints: [endpoint(address, raw.port)] })],
      ['inbound|local', cluster('inbound|local', { staticEndpoints: [endpoint(address, app.port)] })],
      ['inbound|raw', cluster('inbound|raw', { staticEndpoints: [endpoint(address, raw.port)] })],
    ]),
    endpoints: new Map(),
  };
  const runtime = new ProxyRuntime({ metrics: new ProxyMetrics({ processMetrics: false }), limits, listenerDrainMs: 0 });
  runtime.applyConfig(config, 'static');
  await runtime.listening();
  return {
    runtime, app, raw, address, outboundPort, inboundPort,
    async close() {
      await runtime.close();
      await Promise.all([app.close(), raw.close()]);
    },
  };
}

export interface RawExchange {
  /** Everything the sidecar sent back. */
  text: string;
  /** Status of the first response, or 0 when none came. */
  status: number;
  /** The sidecar closed the connection (rather than the test giving up). */
  closedBySidecar: boolean;
}

/**
 * Sends `bytes` (in `parts` when given, a few ms apart) on a new connection and reads until the
 * sidecar closes it, or `waitMs` passes (then the test closes it and closedBySidecar is false).
 */
export function sendRaw(address: string, port: number, bytes: string | string[], waitMs = 4000, gapMs = 5): Promise<RawExchange> {
  const parts = typeof bytes === 'string' ? [bytes] : bytes;
  return withTimeout(new Promise<RawExchange>((resolve) => {
    const s = net.connect(port, address);
    let text = '';
    let gaveUp = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      gaveUp = true;
      s.destroy();
    }, waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closedBySidecar: !gaveUp });
    });
    s.on('connect', async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p, 'latin1');
        if (parts.length > 1) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  }), waitMs + 2000, `raw exchange with ${address}:${port}`);
}

/** The value of trellis_refused_total for one direction and reason (0 when absent). */
export async function refusedCount(rt: ProxyRuntime, direction: string, reason: string): Promise<number> {
  const text = await rt.metrics.text();
  const m = new RegExp(`^trellis_refused_total\\{direction="${direction}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
