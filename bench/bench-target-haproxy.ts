import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchAddresses, benchPort, upstreamBodyBytes } from './bench-addresses.js';
import { haproxyConfig } from './bench-haproxy-config.js';
import { expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';

/** HAProxy, one thread, http mode, in the foreground (-db) with its own config and pid file. */
export async function startHaproxyTarget(ctx: BenchContext, upstream: Upstream): Promise<StartedTarget> {
  const tool = ctx.tools.get('haproxy');
  if (tool === undefined || !('path' in tool)) return { name: 'haproxy', skipped: tool !== undefined && 'missing' in tool ? tool.missing : 'haproxy not looked up' };
  const dir = join(ctx.tmpDir, 'proxy-haproxy');
  mkdirSync(dir, { recursive: true });
  const listen = `${benchAddresses.haproxy}:${benchPort}`;
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConfig(join(dir, 'haproxy.pid'), listen, `${upstream.host}:${upstream.port}`));
  const child = ctx.children.spawn('proxy-haproxy', tool.path, ['-db', '-f', conf], { cpus: ctx.proxyCpus, output: 'log' });
  const url = `http://${listen}/`;
  const problem = await pollHttp(url, null, 10_000, expectUpstreamBody(upstreamBodyBytes),
    () => (child.isRunning() ? null : `haproxy exited: ${child.logTail(5)}`));
  if (problem !== null) {
    await ctx.children.stop(child);
    return { name: 'haproxy', skipped: `haproxy did not start: ${problem}` };
  }
  return { name: 'haproxy', url, hostHeader: null, hops: 1, proxyPids: [child.pid], note: null };
}
