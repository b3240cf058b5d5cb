// A bare outbound listener over one cluster, with the clock and random injected, for the
// resilience tests on this suite's loopback range (127.0.32.0/24).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClusterManager } from '../../../src/proxy/cluster/cluster-manager.js';
import type { ClusterConfig, EndpointConfig, ProxyConfig, RetryPolicy, Route } from '../../../src/proxy/config/proxy-config.js';
import { HttpListener } from '../../../src/proxy/listener/http-listener.js';
import type { ResilienceClock } from '../../../src/proxy/cluster/resilience/resilience-clock.js';
import { ProxyMetrics } from '../../../src/proxy/telemetry/metrics.js';
import { cluster as clusterConfig, request, type Reply } from '../proxy-test-support.js';

export const host = (n: number): string => `127.0.32.${n}`;
export const clusterName = 'svc.default';

export interface TestProxy {
  listener: HttpListener;
  clusters: ClusterManager;
  metrics: ProxyMetrics;
  address: string;
  port: number;
  /** Re-applies the cluster with other endpoints. */
  setEndpoints(endpoints: EndpointConfig[]): void;
  counter(family: 'retries' | 'retryBudgetExhausted' | 'circuitBreakerRejections' | 'timeouts' | 'faultsInjected', ...labels: string[]): number;
  close(): Promise<void>;
}

export async function startProxy(opts: {
  address: string;
  endpoints: EndpointConfig[];
  route?: Partial<Route>;
  cluster?: Partial<ClusterConfig>;
  clock?: ResilienceClock;
  random?: () => number;
}): Promise<TestProxy> {
  const metrics = new ProxyMetrics({ processMetrics: false });
  const clusters = new ClusterManager({ statsFor: (c) => metrics.connectionStats(c) });
  const route: Route = {
    name: 'svc', match: { kind: 'prefix', value: '/' }, clusters: [{ cluster: clusterName, weight: 1 }], timeoutMs: 0, ...opts.route,
  };
  const cc = clusterConfig(clusterName, { staticEndpoints: opts.endpoints, ...opts.cluster });
  const config = (endpoints: EndpointConfig[]): ProxyConfig => ({
    version: '1',
    listeners: [],
    routes: new Map(),
    clusters: new Map([[clusterName, { ...cc, staticEndpoints: endpoints }]]),
    endpoints: new Map(),
  });
  clusters.update(config(opts.endpoints));
  const listener = new HttpListener({
    config: { name: 'outbound', address: opts.address, port: 0, direction: 'outbound', routeConfigName: 'outbound' },
    clusters,
    metrics,
    random: opts.random,
    clock: opts.clock,
  });
  listener.setRoutes({ name: 'outbound', virtualHosts: [{ name: 'svc', domains: ['*'], routes: [route] }] });
  const addr: AddressInfo = await listener.listen();
  return {
    listener,
    clusters,
    metrics,
    address: opts.address,
    port: addr.port,
    setEndpoints: (endpoints) => clusters.update(config(endpoints)),
    counter: (family, ...labels) => metrics[family].cell(...labels).value,
    close: async () => {
      await listener.close();
      clusters.destroy();
    },
  };
}


export function retryPolicy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    maxRetries: 2, retryOn: ['gateway-error', 'connect-failure', 'reset'], retriableStatusCodes: [], perTryTimeoutMs: 0,
    backoffBaseMs: 2, backoffMaxMs: 20, nonIdempotent: false, maxBufferBytes: 65536, ...p,
  };
}

/** `total` requests, `concurrency` at a time over keep-alive sockets; `onEach` sees each reply as it comes. */
export async function load(
  proxy: TestProxy,
  total: number,
  concurrency: number,
  opts: { method?: string; body?: string | Buffer; onEach?: (reply: Reply, i: number) => void } = {},
): Promise<Reply[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = new Array(total);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      replies[i] = await request({ host: proxy.address, port: proxy.port, path: `/r${i}`, method: opts.method, body: opts.body, agent }, 10_000);
      opts.onEach?.(replies[i], i);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return replies;
}
