import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { benchAddresses, benchPort, upstreamBodyBytes } from './bench-addresses.js';
import { expectUpstreamBody, pollHttp } from './bench-http-probe.js';
import { startNginx, nginxRunAsUser } from './bench-nginx.js';
import { nginxUpstreamConfig } from './bench-nginx-config.js';
import type { BenchContext, Upstream } from './bench-target.js';

/** nginx `return 200` when nginx is installed; otherwise a small Node server, said so in the report. */
export async function startUpstream(ctx: BenchContext, preferred: 'nginx' | 'node'): Promise<Upstream | Error> {
  const host = benchAddresses.upstream;
  const listen = `${host}:${benchPort}`;
  const url = `http://${listen}/`;
  const nginx = ctx.tools.get('nginx');
  let note: string;
  if (preferred === 'node') {
    note = 'Node upstream requested (--upstream node)';
  } else if (nginx !== undefined && 'path' in nginx) {
    const prefix = join(ctx.tmpDir, 'upstream-nginx');
    const config = nginxUpstreamConfig({ prefix, runAsUser: nginxRunAsUser() }, listen, upstreamBodyBytes);
    const child = await startNginx(ctx.children, nginx.path, 'upstream-nginx', prefix, config, ctx.loadCpus, url);
    if (!(child instanceof Error)) return { kind: 'nginx', host, port: benchPort, note: null };
    note = `nginx upstream failed (${child.message}); using a Node upstream`;
  } else {
    note = `nginx unavailable (${nginx !== undefined && 'missing' in nginx ? nginx.missing : 'not looked up'}); using a Node upstream`;
  }
  ctx.say(note);
  const script = join(dirname(fileURLToPath(import.meta.url)), 'bench-upstream-node-server.js');
  const child = ctx.children.spawn('upstream-node', process.execPath, [script, host, String(benchPort), String(upstreamBodyBytes)], { cpus: ctx.loadCpus, output: 'log' });
  const problem = await pollHttp(url, null, 10_000, expectUpstreamBody(upstreamBodyBytes),
    () => (child.isRunning() ? null : `node upstream exited: ${child.logTail(5)}`));
  if (problem !== null) return new Error(problem);
  return { kind: 'node', host, port: benchPort, note };
}
