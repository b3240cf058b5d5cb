// Shared helpers for the proxy's tests: real servers on this suite's loopback range
// (127.0.30.0/24), a raw HTTP client that sees exactly what went over the wire, and configs.
import { defaultCircuitBreakers, defaultIdleTimeoutMs, defaultRetryBudget } from '../../src/proxy/config/cluster-defaults.js';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, EndpointConfig, ProxyConfig, Route, RouteTable } from '../../src/proxy/config/proxy-config.js';

export const host = (n: number): string => `127.0.30.${n}`;

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export interface Upstream {
  server: http.Server;
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function httpUpstream(address: string, handler: http.RequestListener): Promise<Upstream> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    address,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface RawUpstream {
  server: net.Server;
  address: string;
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A raw TCP server whose handler answers however a test wants, misbehaviour included. */
export async function rawUpstream(address: string, onConnection: (socket: net.Socket) => void): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    address,
    port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Calls back once per complete request head received on the socket (body ignored). */
export function onRequestHeads(socket: net.Socket, cb: (head: string, n: number) => void): void {
  let buf = '';
  let n = 0;
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\r\n\r\n')) !== -1) {
      const head = buf.slice(0, i);
      buf = buf.slice(i + 4);
      cb(head, n++);
    }
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  trailers: NodeJS.Dict<string>;
}

export function request(
  opts: { host: string; port: number; path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent | false },
  timeoutMs = 5000,
): Promise<Reply> {
  return withTimeout(
    new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        { host: opts.host, port: opts.port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    }),
    timeoutMs,
    `${opts.method ?? 'GET'} ${opts.path ?? '/'}`,
  );
}

export function endpoint(address: string, port: number, extra: Partial<EndpointConfig> = {}): EndpointConfig {
  return { address, port, weight: 1, healthy: true, zone: '', labels: {}, ...extra };
}

export function cluster(name: string, extra: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name, connectTimeoutMs: 1000, idleTimeoutMs: defaultIdleTimeoutMs, lbPolicy: { kind: 'round-robin' },
    circuitBreakers: { ...defaultCircuitBreakers }, retryBudget: { ...defaultRetryBudget }, ...extra,
  };
}

export function prefixRoute(name: string, prefix: string, clusters: Array<[string, number]>, timeoutMs = 0): Route {
  return { name, match: { kind: 'prefix', value: prefix }, clusters: clusters.map(([c, w]) => ({ cluster: c, weight: w })), timeoutMs };
}

/** An outbound config: one listener, one virtual host per service, one cluster each. */
export function outboundConfig(opts: {
  version?: string;
  address: string;
  port: number;
  services: Array<{ name: string; endpoints: EndpointConfig[]; routes?: Route[] }>;
}): ProxyConfig {
  const table: RouteTable = {
    name: 'outbound',
    virtualHosts: opts.services.map((s) => ({
      name: s.name,
      domains: [s.name, `${s.name}.default`],
      routes: s.routes ?? [prefixRoute(s.name, '/', [[`${s.name}.default`, 1]])],
    })),
  };
  const clusters = new Map<string, ClusterConfig>();
  const endpoints = new Map<string, { clusterName: string; endpoints: EndpointConfig[] }>();
  for (const s of opts.services) {
    const name = `${s.name}.default`;
    clusters.set(name, cluster(name, { edsServiceName: name }));
    endpoints.set(name, { clusterName: name, endpoints: s.endpoints });
  }
  return {
    version: opts.version ?? '1',
    listeners: [{ name: 'outbound', address: opts.address, port: opts.port, direction: 'outbound', routeConfigName: 'outbound' }],
    routes: new Map([['outbound', table]]),
    clusters,
    endpoints,
  };
}

/** A free port on an address: bind 0, read it, release it. */
export async function freePort(address: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, address, resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
