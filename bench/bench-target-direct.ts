import type { StartedTarget, Upstream } from './bench-target.js';

/** wrk straight to the upstream: the floor every proxy's latency is compared with. */
export function directTarget(upstream: Upstream): StartedTarget {
  return {
    name: 'direct',
    url: `http://${upstream.host}:${upstream.port}/`,
    hostHeader: null,
    hops: 0,
    proxyPids: [],
    note: upstream.kind === 'node' ? 'Node upstream' : null,
  };
}
