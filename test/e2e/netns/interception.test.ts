// A mesh over three hosts (Linux network namespaces on one bridge, test/e2e/netns/netns-harness.ts)
// with transparent interception: apps that know nothing of the mesh call each other by service
// name (`http://api:8080/`, resolved to the service's virtual IP by each host's /etc/hosts),
// iptables (`trellis init`) hands the connections to the sidecars, and the sidecars talk mTLS
// (MeshConfig strict). One api host is cut off: its endpoint leaves the mesh and traffic moves to
// the other; it comes back and is used again. Another host dies. `trellis init --remove` restores
// each host's rules.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsFabric, netnsUnavailable, type HostProcess } from './netns-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const appScript = path.join(here, 'netns-app.js');
const clientScript = path.join(here, 'netns-client.js');
const node = process.execPath;
const PROXY_UID = 1337;

const skip = netnsUnavailable();
if (skip) process.stdout.write(`# skipping the network-namespace tests: ${skip}\n`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

type Outcome = { status: number; body: string } | { error: string };

describe('a mesh across three hosts with transparent interception', { skip: skip ?? false }, () => {
  const work = mkdtempSync(path.join(tmpdir(), 'trellis-netns-'));
  chmodSync(work, 0o755); // the sidecars run as uid 1337 and keep their state in here
  const logFile = path.join(work, 'processes.log');
  const fabric = new NetnsFabric(logFile);
  const dataDir = path.join(work, 'control');
  const cpAddress = '10.200.0.10';
  const apiUrl = `http://${cpAddress}:15080`;
  const rulesBefore = new Map<string, string>();
  const sidecars = new Map<string, HostProcess>();
  let adminToken = '';
  let vips: Record<string, string> = {};
  let failed = false;

  const trellis = async (args: string[], input?: string) => {
    const r = await fabric.exec('cp', node, [cli, '--api', apiUrl, ...args, ...(adminToken ? ['--token', adminToken] : [])], { input, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `trellis ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const natRules = async (host: string) => {
    const r = await fabric.exec(host, 'iptables', ['-w', '-t', 'nat', '-S']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  /** `count` requests from inside a host, one after another, each bounded. */
  const requests = async (host: string, url: string, count: number): Promise<Outcome[]> => {
    const r = await fabric.exec(host, node, [clientScript, url, String(count), '4000'], { timeoutMs: count * 5000 + 10_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Outcome[];
  };
  /** Who answered each call web made to api (null: the request failed). */
  const apiAnswers = (outcomes: Outcome[]): Array<string | null> => outcomes.map((o) => {
    if ('error' in o || o.status !== 200) return null;
    return (JSON.parse((JSON.parse(o.body) as { upstream: string }).upstream) as { name: string }).name;
  });
  const endpoints = async (): Promise<Array<{ service: string; address: string; state: string }>> => JSON.parse(await trellis(['get', 'endpoints', '-o', 'json']));

  before(async () => {
    fabric.create([{ name: 'cp', octet: 10 }, { name: 'h1', octet: 11 }, { name: 'h2', octet: 12 }, { name: 'h3', octet: 13 }]);
    mkdirSync(dataDir, { recursive: true });
    fabric.spawn('cp', 'control', node, [cli, 'control', '--listen', cpAddress, '--data-dir', dataDir, '--grace', '2s', '--log-level', 'warn']);
    // a server outside the mesh, for passthrough
    fabric.spawn('cp', 'outside', node, [appScript, '--name', 'outside', '--port', '9090']);
    await until('the control plane', 20_000, async () => (await fabric.exec('cp', 'curl', ['-sf', '-m', '2', `${apiUrl}/api/v1/health`])).code === 0);
    adminToken = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    await trellis(['apply', '-f', '-'], `apiVersion: trellis.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { mtls: { mode: strict }, serviceCidr: 10.200.240.0/20 }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 8080, protocol: http }] }
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: { name: api }
spec: { ports: [{ port: 8080, protocol: http }, { port: 7000, protocol: tcp }] }
---
apiVersion: trellis.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: api }
spec:
  targetRef: { kind: Service, name: api }
  loadBalancer: { type: RoundRobin }
  timeouts: { connect: 500ms, perTry: 1500ms, request: 6s }
  retries: { attempts: 3, retryOn: [connect-failure, reset, gateway-error] }
  outlierDetection: { consecutiveFailures: 2, baseEjectionTime: 3s, interval: 1s }
`);
    const services = JSON.parse(await trellis(['get', 'services', '-o', 'json'])) as Array<{ metadata: { name: string }; status: { clusterIP: string } }>;
    vips = Object.fromEntries(services.map((s) => [s.metadata.name, s.status.clusterIP]));
    assert.match(vips.api ?? '', /^10\.200\.2(4\d|5[0-5])\.\d+$/, 'api has a virtual IP from the MeshConfig CIDR');

    const pods = [{ host: 'h1', service: 'web', call: 'http://api:8080/' }, { host: 'h2', service: 'api' }, { host: 'h3', service: 'api' }];
    for (const pod of pods) {
      const h = fabric.host(pod.host);
      fabric.setHostsFile(pod.host, { web: vips.web, api: vips.api, outside: cpAddress });
      rulesBefore.set(pod.host, await natRules(pod.host));
      const init = await fabric.exec(pod.host, node, [cli, 'init', '--proxy-uid', String(PROXY_UID)]);
      assert.equal(init.code, 0, init.stderr);
      fabric.spawn(pod.host, 'app', node, [appScript, '--name', `${pod.service}-${pod.host}`, '--port', '8080', ...(pod.call ? ['--call', pod.call] : ['--tcp-port', '7000'])]);
      const token = (JSON.parse(await trellis(['token', 'create', '--service', pod.service, '-o', 'json'])) as { token: string }).token;
      const stateDir = path.join(work, `state-${pod.host}`);
      mkdirSync(stateDir);
      chownSync(stateDir, PROXY_UID, PROXY_UID);
      sidecars.set(pod.host, fabric.spawn(pod.host, 'sidecar', node, [cli, 'proxy', '--service', pod.service, '--app', '127.0.0.1:8080', '--address', h.address,
        '--control', `${cpAddress}:15010`, '--token', token, '--state-dir', stateDir, '--intercept', '--uid', String(PROXY_UID), '--drain', '1s', '--log-level', 'warn']));
    }
    for (const pod of pods) {
      await until(`the sidecar on ${pod.host} ready with a certificate`, 30_000, async () => {
        const r = await fabric.exec(pod.host, 'curl', ['-s', '-m', '2', `http://${fabric.host(pod.host).address}:15000/config_dump`]);
        const dump = r.code === 0 ? JSON.parse(r.stdout) as { ready?: boolean; identity?: { serial?: string } } : {};
        return dump.ready && dump.identity?.serial;
      });
    }
  });

  after(async () => {
    await fabric.destroy();
    assert.deepEqual(fabric.leftovers(), [], 'every namespace and /etc/netns file of this run is gone');
    if (failed) process.stdout.write(`# netns test logs kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  });

  it('apps call each other by service name through their sidecars, over mTLS, reaching both api hosts', { timeout: 60_000 }, async () => {
    try {
      const seen = await until('web -> api answered by both api hosts', 30_000, async () => {
        const answers = apiAnswers(await requests('h1', 'http://web:8080/', 10));
        return answers.every((a) => a !== null) && new Set(answers).size === 2 ? answers : null;
      });
      assert.deepEqual(new Set(seen), new Set(['api-h2', 'api-h3']));
      // the calls went through the sidecars, sidecar to sidecar over mTLS
      const metrics = await fabric.exec('h1', 'curl', ['-s', '-m', '3', `http://${fabric.host('h1').address}:15000/metrics`]);
      assert.match(metrics.stdout, /trellis_intercepted_connections_total\{path="mesh"\} [1-9]/);
      assert.match(metrics.stdout, /trellis_tls_handshakes_total\{direction="outbound",resumed="(true|false)"\} [1-9]/);
      // the service's address works as well as its name
      const byAddress = await requests('h1', `http://${vips.api}:8080/`, 2);
      assert.ok(byAddress.every((o) => 'status' in o && o.status === 200 && /"name":"api-h[23]"/.test(o.body)), JSON.stringify(byAddress));
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('takes a tcp service port through the TCP proxy: raw bytes to either api host, by name', { timeout: 60_000 }, async () => {
    try {
      const answers = await until('api:7000 answered over TCP by both hosts', 30_000, async () => {
        const outcomes = await requests('h1', 'tcp://api:7000', 8);
        const who = outcomes.map((o) => ('body' in o ? /^(api-h[23]) hello/.exec(o.body)?.[1] ?? null : null));
        return who.every((w) => w !== null) && new Set(who).size === 2 ? who : null;
      });
      assert.deepEqual(new Set(answers), new Set(['api-h2', 'api-h3']));
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('passes unknown destinations through, and no plaintext reaches an app around its sidecar (strict)', { timeout: 60_000 }, async () => {
    try {
      const outside = await requests('h1', 'http://outside:9090/', 2);
      assert.ok(outside.every((o) => 'status' in o && o.status === 200 && o.body.includes('"outside"')), JSON.stringify(outside));
      // from a host without a sidecar straight to api's app port: redirected inbound, refused as plaintext
      const direct = await requests('cp', `http://${fabric.host('h2').address}:8080/`, 1);
      assert.ok('error' in direct[0] || direct[0].status !== 200, JSON.stringify(direct));
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('a host cut off leaves the mesh and its traffic moves to the other; back, it is used again', { timeout: 150_000 }, async () => {
    try {
      fabric.cut('h2');
      // callers find out first (outlier detection ejects h2 after failed tries; retries move the
      // requests), the control plane when h2's xDS stream times out (keepalive) and its grace ends
      const moved = await until('every call answered by h3', 40_000, async () => {
        const answers = apiAnswers(await requests('h1', 'http://web:8080/', 10));
        return answers.every((a) => a === 'api-h3') ? answers : null;
      });
      assert.equal(moved.length, 10);
      await until('api\'s endpoint on h2 shown ejected or draining', 30_000, async () => {
        await requests('h1', 'http://web:8080/', 3);
        const h2 = (await endpoints()).find((r) => r.service === 'api' && r.address === fabric.host('h2').address);
        return h2 === undefined || h2.state !== 'healthy';
      });

      fabric.restore('h2');
      // the callers' ejection runs out and a probe finds h2 answering again
      const back = await until('h2 answering again', 90_000, async () => {
        const answers = apiAnswers(await requests('h1', 'http://web:8080/', 10));
        return answers.every((a) => a !== null) && answers.includes('api-h2') ? answers : null;
      });
      await until('api\'s endpoint on h2 shown healthy again', 30_000, async () => {
        await requests('h1', 'http://web:8080/', 3);
        return (await endpoints()).some((r) => r.service === 'api' && r.address === fabric.host('h2').address && r.state === 'healthy');
      });
      assert.ok(back.includes('api-h3'), 'both hosts share the traffic again');
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('a host that dies (its processes killed) leaves the mesh and the other takes all its traffic', { timeout: 90_000 }, async () => {
    try {
      await fabric.killHost('h3');
      // the kernel closes the dead host's sockets: the control plane sees its xDS stream end at once
      await until('api\'s endpoint on h3 draining or gone', 30_000, async () => {
        const h3 = (await endpoints()).find((r) => r.service === 'api' && r.address === fabric.host('h3').address);
        return h3 === undefined || h3.state !== 'healthy';
      });
      const answers = await until('every call answered by h2', 40_000, async () => {
        const a = apiAnswers(await requests('h1', 'http://web:8080/', 10));
        return a.every((x) => x === 'api-h2') ? a : null;
      });
      assert.equal(answers.length, 10);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('trellis init --remove leaves each host\'s nat rules as they were', { timeout: 60_000 }, async () => {
    try {
      for (const [host, before] of rulesBefore) {
        assert.notEqual(await natRules(host), before, `${host} has interception rules`);
        const r = await fabric.exec(host, node, [cli, 'init', '--remove']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await natRules(host), before, `${host}'s rules restored`);
      }
      // with the rules gone, the app's call to api's virtual IP no longer reaches anything
      await fabric.stop(sidecars.get('h1')!);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
