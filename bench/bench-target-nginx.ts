import { join } from 'node:path';
import { benchAddresses, benchPort } from './bench-addresses.js';
import { startNginx, nginxRunAsUser } from './bench-nginx.js';
import { nginxProxyConfig } from './bench-nginx-config.js';
import type { BenchContext, StartedTarget, Upstream } from './bench-target.js';

/** The reference: nginx, one worker, keep-alive pool to the upstream. */
export async function startNginxTarget(ctx: BenchContext, upstream: Upstream): Promise<StartedTarget> {
  const tool = ctx.tools.get('nginx');
  if (tool === undefined || !('path' in tool)) return { name: 'nginx', skipped: tool !== undefined && 'missing' in tool ? tool.missing : 'nginx not looked up' };
  const listen = `${benchAddresses.nginx}:${benchPort}`;
  const prefix = join(ctx.tmpDir, 'proxy-nginx');
  const config = nginxProxyConfig({ prefix, runAsUser: nginxRunAsUser() }, listen, `${upstream.host}:${upstream.port}`);
  const url = `http://${listen}/`;
  const child = await startNginx(ctx.children, tool.path, 'proxy-nginx', prefix, config, ctx.proxyCpus, url);
  if (child instanceof Error) return { name: 'nginx', skipped: `nginx proxy did not start: ${child.message}` };
  return { name: 'nginx', url, hostHeader: null, hops: 1, proxyPids: [child.pid], note: null };
}
