import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogLevel } from '../common/log.js';
import { packagePath } from '../common/package-root.js';
import { ports } from '../common/ports.js';
import { ProcessGroup, waitForHttp } from '../common/process-group.js';
import { parseResources } from '../resources/validate.js';
import { appPort, demoPods, demoResources, ingressAddress, ingressPort } from './topology.js';
import { describeStats, TrafficGenerator } from './traffic-generator.js';

const cli = packagePath('dist', 'src', 'cli', 'main.js');
const demoApp = packagePath('dist', 'src', 'demo', 'demo-app.js');
const controlAddress = '127.0.0.1';
const apiUrl = `http://${controlAddress}:${ports.controlApi}`;

export interface DemoOptions { traffic: boolean; rps: number; logLevel: LogLevel }

/** Starts the whole demo mesh and runs until SIGINT/SIGTERM, then stops everything it started. */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-demo-'));
  const logFile = path.join(dir, 'demo.log');
  const group = new ProcessGroup(logFile);
  let traffic: TrafficGenerator | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const say = (line: string) => process.stdout.write(line + '\n');

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(statsTimer);
    traffic?.stop();
    say('stopping the demo mesh…');
    await group.stopAll(7000);
    rmSync(dir, { recursive: true, force: true });
    say('stopped; nothing left running.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  const watch = (name: string) => (code: number | null) => {
    if (!stopping) process.stderr.write(`demo: ${name} exited unexpectedly (code ${code}); its log is in ${logFile}\n`);
  };

  try {
    say(`starting the control plane (data in ${dir})…`);
    group.start('control', process.execPath, [cli, 'control', '--data-dir', path.join(dir, 'control'), '--listen', controlAddress, '--log-level', opts.logLevel, '--grace', '3s'], { onExit: watch('control') });
    await waitForHttp(`${apiUrl}/api/v1/health`, 20_000, 'the control plane API');
    // the control plane wrote its admin token there on this first start; writes need it (join tokens go
    // to the sidecars by environment, not argv, which every local user can read)
    const tokenFile = path.join(dir, 'control', 'admin-token');
    const admin = { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` };
    const joinToken = async (service: string): Promise<string> => {
      const r = await fetch(`${apiUrl}/api/v1/tokens`, { method: 'POST', body: JSON.stringify({ service, ttlMs: 3_600_000 }), headers: { 'content-type': 'application/json', ...admin } });
      if (!r.ok) throw new Error(`creating a join token for ${service} failed: ${r.status} ${await r.text()}`);
      return ((await r.json()) as { token: string }).token;
    };

    const parsed = parseResources(demoResources, 'demo topology');
    if (!parsed.ok) throw new Error(`demo resources are invalid: ${JSON.stringify(parsed.errors)}`);
    const res = await fetch(`${apiUrl}/api/v1/resources`, { method: 'POST', body: JSON.stringify(parsed.resources), headers: { 'content-type': 'application/json', ...admin } });
    if (!res.ok) throw new Error(`applying the demo resources failed: ${res.status} ${await res.text()}`);

    say(`starting ${demoPods.length} pods (app + sidecar each)…`);
    for (const pod of demoPods) {
      const appArgs = [demoApp, '--name', pod.service, '--version', pod.version, '--listen', `${pod.address}:${appPort}`];
      if (pod.calls) appArgs.push('--call', pod.calls, '--sidecar', `${pod.address}:${ports.proxyOutbound}`);
      group.start(`${pod.id}/app`, process.execPath, appArgs, { onExit: watch(`${pod.id}/app`) });
      group.start(`${pod.id}/sidecar`, process.execPath, [cli, 'proxy', '--service', pod.service, '--id', pod.id,
        '--app', `${pod.address}:${appPort}`, '--address', pod.address, '--labels', `version=${pod.version},zone=${pod.zone}`,
        '--control', `${controlAddress}:${ports.controlXds}`, '--state-dir', path.join(dir, 'pods', pod.id), '--log-level', opts.logLevel],
      { onExit: watch(`${pod.id}/sidecar`), env: { ...process.env, TRELLIS_TOKEN: await joinToken(pod.service) } });
    }
    group.start('ingress', process.execPath, [cli, 'proxy', '--service', 'ingress', '--id', 'ingress', '--address', ingressAddress,
      '--outbound-port', String(ingressPort), '--ingress-for', 'web', '--control', `${controlAddress}:${ports.controlXds}`,
      '--state-dir', path.join(dir, 'pods', 'ingress'), '--log-level', opts.logLevel],
      { onExit: watch('ingress'), env: { ...process.env, TRELLIS_TOKEN: await joinToken('ingress') } });
    await Promise.all([
      ...demoPods.map((p) => waitForHttp(`http://${p.address}:${ports.proxyAdmin}/ready`, 30_000, `the sidecar of ${p.id}`)),
      waitForHttp(`http://${ingressAddress}:${ports.proxyAdmin}/ready`, 30_000, 'the ingress'),
    ]);

    if (opts.traffic) {
      traffic = new TrafficGenerator({ host: ingressAddress, port: ingressPort }, opts.rps);
      traffic.start();
      statsTimer = setInterval(() => say(describeStats(traffic!.take(), 10)), 10_000);
    }
    say(`
Trellis demo mesh is up: web → api (v1 90% / v2 10%) → inventory, ${demoPods.length} pods on 127.0.1.x, each with a sidecar.
  ingress          http://${ingressAddress}:${ingressPort}/          (try: curl -s http://${ingressAddress}:${ingressPort}/)
  dashboard        ${apiUrl}/
  control plane    ${apiUrl}/api/v1/health
  admin token      ${tokenFile}   (writes and tap need it: --token-file, or export TRELLIS_TOKEN=$(cat ${tokenFile}))
  a sidecar        http://${demoPods[0].address}:${ports.proxyAdmin}/config_dump   /metrics   /ready
  logs             ${logFile}
Try:
  npx trellis get proxies
  npx trellis get endpoints
  npx trellis get routes -o json
  curl -s -H 'Host: inventory' http://${demoPods[0].address}:${ports.proxyOutbound}/stock
  npx trellis stat
  npx trellis tap api --max 5 --token-file ${tokenFile}
  change the split: edit the weights of api-split and \`npx trellis apply --token-file ${tokenFile} -f FILE\`
${opts.traffic ? `A traffic generator sends ${opts.rps} requests/s to the ingress; a summary follows every 10 s.\n` : ''}Press Ctrl-C to stop everything.`);
  } catch (err) {
    process.stderr.write(`demo failed to start: ${(err as Error).message}\n(see ${logFile})\n`);
    await stop(1);
  }
}
