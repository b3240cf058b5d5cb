// One process of simulated sidecars for `npm run bench:scale`: each is the sidecar's own ADS
// client (src/proxy/xds/ads-client.ts: gRPC over node:http2, the real decoders, ACK/NACK and
// config assembly) with its own xDS Node, and no data path behind it. It reports when every one
// of its sidecars holds what the bench expects after a change, and how many configs each took.
import { createLogger } from '../../src/common/log.js';
import type { ProxyConfig } from '../../src/proxy/config/proxy-config.js';
import type { NodeInfo } from '../../src/xds/node.js';
import { AdsClient } from '../../src/proxy/xds/ads-client.js';
import type { ChildMessage, Expectation, ParentMessage } from './scale-protocol.js';

interface Sim {
  client: AdsClient;
  config: ProxyConfig | null;
  configs: number;
}

interface Pending {
  id: number;
  expectation: Expectation;
  /** configs of each sidecar when the expectation was set */
  base: number[];
  done: Set<number>;
  firstAt: number;
  lastAt: number;
}

const logger = createLogger('scale-sim', 'silent');
const sims: Sim[] = [];
const extra = new Map<string, AdsClient>();
let pending: Pending | null = null;
let readySent = false;

function send(message: ChildMessage): void {
  process.send?.(message);
}

export function holds(config: ProxyConfig | null, e: Expectation): boolean {
  if (!config) return false;
  if (e.kind === 'route') {
    const vhost = config.routes.get('outbound')?.virtualHosts.find((v) => v.name === e.vhost);
    return vhost?.routes.some((r) => r.match.kind !== 'regex' && r.match.value === e.prefix) ?? false;
  }
  const found = config.endpoints.get(e.cluster)?.endpoints.find((ep) => ep.address === e.address && ep.port === e.port);
  return e.healthy === null ? !found : found?.healthy === e.healthy;
}

function check(index: number): void {
  const p = pending;
  if (!p || p.done.has(index) || !holds(sims[index].config, p.expectation)) return;
  const now = Date.now();
  p.done.add(index);
  if (p.done.size === 1) p.firstAt = now;
  p.lastAt = now;
  if (p.done.size === sims.length) {
    pending = null;
    send({ type: 'seen', id: p.id, firstAt: p.firstAt, lastAt: p.lastAt, configs: sims.map((s, i) => s.configs - p.base[i]) });
  }
}

function start(server: string, nodes: readonly NodeInfo[]): void {
  for (const node of nodes) {
    const index = sims.length;
    const sim: Sim = { client: undefined as unknown as AdsClient, config: null, configs: 0 };
    sim.client = new AdsClient({
      servers: [server], node, logger,
      onConfig: (config) => {
        sim.config = config;
        sim.configs++;
        if (!readySent && sims.every((s) => s.config)) {
          readySent = true;
          send({ type: 'ready', at: Date.now(), configs: sims.reduce((n, s) => n + s.configs, 0) });
        }
        check(index);
      },
    });
    sims.push(sim);
  }
  for (const sim of sims) sim.client.start();
}

process.on('message', (m: ParentMessage) => {
  try {
    if (m.type === 'start') start(m.server, m.nodes);
    else if (m.type === 'expect') {
      pending = { id: m.id, expectation: m.expectation, base: sims.map((s) => s.configs), done: new Set(), firstAt: 0, lastAt: 0 };
      // a sidecar may hold it already (an expectation set after the change was made)
      send({ type: 'expecting', id: m.id });
      sims.forEach((_, i) => check(i));
    } else if (m.type === 'join') {
      const client = new AdsClient({ servers: [sims[0]?.client.status().server ?? ''], node: m.node, logger, onConfig: () => undefined });
      extra.set(m.node.id, client);
      client.start();
    } else if (m.type === 'leave') {
      void extra.get(m.id)?.close();
      extra.delete(m.id);
    } else if (m.type === 'stop') {
      void Promise.all([...sims.map((s) => s.client.close()), ...[...extra.values()].map((c) => c.close())]).finally(() => process.exit(0));
    }
  } catch (err) {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
  }
});
// the bench going away takes its sidecars along
process.on('disconnect', () => process.exit(0));
