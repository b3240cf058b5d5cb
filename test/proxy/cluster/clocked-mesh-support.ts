// Instances that misbehave on demand behind a sidecar's real data path (ProxyRuntime: outbound
// listener → cluster → balancer → pools over loopback), with the resilience clock in the
// test's hands. Shared by the peak-EWMA and outlier-detection tests.
import type { ClusterConfig } from '../../../src/proxy/config/proxy-config.js';
import { ProxyRuntime } from '../../../src/proxy/proxy-runtime.js';
import type { ResilienceClock } from '../../../src/proxy/cluster/resilience/resilience-clock.js';
import { endpoint, freePort, httpUpstream, outboundConfig, request, withTimeout, type Upstream } from '../proxy-test-support.js';

/** How an instance answers now; the test changes it while traffic flows. */
export interface Behaviour {
  delayMs: number;
  status: number;
}

export interface Instance extends Upstream {
  name: string;
  behaviour: Behaviour;
  hits: number;
}

/** An HTTP server that answers with its name after its delay, with its status. */
export async function instance(name: string, address: string, behaviour: Behaviour): Promise<Instance> {
  const self = { name, behaviour, hits: 0 } as Instance;
  const up = await httpUpstream(address, (req, res) => {
    self.hits++;
    req.resume();
    const { delayMs, status } = self.behaviour;
    const answer = () => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(name);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  return Object.assign(self, up);
}

export interface Sidecar {
  rt: ProxyRuntime;
  address: string;
  port: number;
  /** One request for service `api`; resolves to the name of the instance that answered and the status. */
  call(): Promise<{ status: number; from: string; error: string | undefined }>;
  close(): Promise<void>;
}

/** A sidecar whose service `api` has these instances, its cluster adjusted by `cluster`. */
export async function sidecar(address: string, instances: Instance[], cluster: Partial<ClusterConfig>, clock: ResilienceClock): Promise<Sidecar> {
  const port = await freePort(address);
  const config = outboundConfig({ address, port, services: [{ name: 'api', endpoints: instances.map((u) => endpoint(u.address, u.port)) }] });
  Object.assign(config.clusters.get('api.default')!, cluster);
  const rt = new ProxyRuntime({ listenerDrainMs: 100, clock });
  rt.applyConfig(config);
  await withTimeout(rt.listening(), 3000, 'listeners bound');
  return {
    rt, address, port,
    async call() {
      const r = await request({ host: address, port, headers: { host: 'api' } });
      const error = r.headers['x-trellis-error'] as string | undefined;
      return { status: r.status, from: error === undefined ? r.body : `(${error})`, error };
    },
    async close() {
      await rt.drain(0);
    },
  };
}
