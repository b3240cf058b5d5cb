// A real mesh for end-to-end tests: the control plane and sidecars run as separate processes
// from the built CLI; the apps are small http servers in the test process, each on its own
// pod address. Each test file takes its own 127.x.y.0/24 so files can run in parallel.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroup, waitForHttp, type Started } from '../../src/common/process-group.js';

export const cliPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const appPort = 8000;

/** `control`: the address of the control-plane replica the sidecar connects to (default the mesh's first), or a full `--control` value (`a:15010,b:15010`). */
/** `sidecarArgs`: extra `trellis proxy` flags for this pod's sidecar (kept across restarts). */
export interface Pod { id: string; service: string; address: string; labels: Record<string, string>; app: http.Server; sidecar?: Started; control?: string; token?: string; sidecarArgs?: string[]; stopApp?: () => Promise<void> }
/** Starts a pod's own app (e.g. a gRPC server) on its address and port; resolves to how to stop it. */
export type AppStarter = (address: string, port: number) => Promise<() => Promise<void>>;
export interface CliResult { code: number | null; stdout: string; stderr: string }
export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

export class Mesh {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-e2e-'));
  readonly group = new ProcessGroup(path.join(this.dir, 'processes.log'));
  readonly controlAddress: string;
  readonly apiUrl: string;
  readonly pods = new Map<string, Pod>();
  private control?: Started;
  /** Each control plane's admin token (from its <data-dir>/admin-token) by API URL: `cli()` sends it for API writes. */
  readonly adminTokens = new Map<string, string>();
  private nextHost: number;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  /** `base`: where in the /24 this mesh starts (control at base+1, pods from base+10), so two meshes can share one range. */
  constructor(readonly net: string, base = 0) {
    this.controlAddress = `${net}.${base + 1}`;
    this.nextHost = base + 10;
    this.apiUrl = `http://${this.controlAddress}:15080`;
  }

  /**
   * `grace`: how long a disconnected proxy stays registered (3s by default, so tests that stop sidecars move on quickly).
   * `address`: another control-plane replica (with its own data dir) instead of the mesh's first; `args` are added last.
   */
  async startControl(opts: { grace?: string; address?: string; args?: string[] } = {}): Promise<Started> {
    const address = opts.address ?? this.controlAddress;
    const first = address === this.controlAddress;
    const started = this.group.start(first ? 'control' : `control@${address}`, process.execPath, [cliPath, 'control',
      '--data-dir', path.join(this.dir, first ? 'control' : `control-${address}`),
      '--listen', address, '--grace', opts.grace ?? '3s', '--log-level', 'warn', ...(opts.args ?? [])]);
    if (first) this.control = started;
    // The health answer names its pid: a leftover process on this address must not pass for ours.
    await waitFor(async () => {
      if (started.child.exitCode !== null) throw new Error(`the control plane on ${address} exited (${started.child.exitCode}); see ${this.dir}/processes.log`);
      const res = await fetch(`http://${address}:15080/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      const health = (await res.json()) as { pid?: number };
      if (health.pid !== started.child.pid) throw new Error(`another process (pid ${health.pid}) answers on ${address}:15080`);
      return true;
    }, 20_000, `the control plane on ${address}`);
    const dataDir = path.join(this.dir, first ? 'control' : `control-${address}`);
    // replicas on one etcd share one admin token: only the replica that created it has the file
    const tokenFile = path.join(dataDir, 'admin-token');
    const shared = [...this.adminTokens.values()][0];
    this.adminTokens.set(`http://${address}:15080`, existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : shared ?? readFileSync(tokenFile, 'utf8').trim());
    return started;
  }

  async killControl(): Promise<void> {
    if (this.control) await this.group.stop(this.control, 'SIGKILL');
  }

  /** An app that answers JSON naming itself, and a sidecar beside it. */
  async addPod(id: string, service: string, labels: Record<string, string> = {}, opts: { wait?: boolean; control?: string; token?: string; sidecarArgs?: string[]; app?: AppStarter } = {}): Promise<Pod> {
    const address = `${this.net}.${this.nextHost++}`;
    if (opts.app) {
      // an app of the test's own (never listening: `app` is a placeholder then)
      const stopApp = await opts.app(address, appPort);
      const pod: Pod = { id, service, address, labels, app: http.createServer(), control: opts.control, token: opts.token, sidecarArgs: opts.sidecarArgs, stopApp };
      this.pods.set(id, pod);
      await this.startSidecar(pod, opts.wait ?? true);
      return pod;
    }
    // `/slow/<ms>` answers after that many milliseconds, to hold a request in flight.
    const app = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const delay = /^\/slow\/(\d+)/.exec(req.url ?? '');
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ pod: id, service, version: labels.version ?? null, path: req.url }));
        }, delay ? Number(delay[1]) : 0);
      });
    });
    await new Promise<void>((resolve, reject) => app.once('error', reject).listen(appPort, address, resolve));
    const pod: Pod = { id, service, address, labels, app, control: opts.control, token: opts.token, sidecarArgs: opts.sidecarArgs };
    this.pods.set(id, pod);
    await this.startSidecar(pod, opts.wait ?? true);
    return pod;
  }

  async startSidecar(pod: Pod, wait = true): Promise<void> {
    const labels = Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`).join(',');
    pod.sidecar = this.group.start(`${pod.id}/sidecar`, process.execPath, [cliPath, 'proxy', '--service', pod.service, '--id', pod.id,
      '--app', `${pod.address}:${appPort}`, '--address', pod.address, ...(labels ? ['--labels', labels] : []),
      '--control', pod.control?.includes(':') ? pod.control : `${pod.control ?? this.controlAddress}:15010`, '--state-dir', path.join(this.dir, 'state', pod.id), '--log-level', 'warn', '--drain', '1s',
      ...(pod.token ? ['--token', pod.token] : []), ...(pod.sidecarArgs ?? [])]);
    if (wait) await waitForHttp(`http://${pod.address}:15000/ready`, 20_000, `the sidecar of ${pod.id}`);
  }

  async stopSidecar(pod: Pod, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (pod.sidecar) await this.group.stop(pod.sidecar, signal);
  }

  /** A request from `from`'s app through its sidecar's outbound listener to `host`. */
  request(from: Pod, host: string, urlPath = '/', method = 'GET'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: from.address, port: 15001, path: urlPath, method, agent: this.agent, headers: { host }, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`request to ${host}${urlPath} via ${from.id} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** A join token for a workload of `service` (`trellis token create`), for a sidecar's --token. */
  async joinToken(service: string): Promise<string> {
    const r = await this.cli(['token', 'create', '--service', service, '-o', 'json']);
    if (r.code !== 0) throw new Error(`trellis token create --service ${service} failed (${r.code}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as { token: string }).token;
  }

  /** Runs the real CLI against this mesh's control plane, with its admin token unless `token` says otherwise (null: none). */
  cli(args: string[], stdin?: string, apiUrl = this.apiUrl, token?: string | null): Promise<CliResult> {
    return new Promise((resolve) => {
      const env = { ...process.env, TRELLIS_TOKEN: (token === undefined ? this.adminTokens.get(apiUrl) : token) ?? '' };
      const child = spawn(process.execPath, [cliPath, '--api', apiUrl, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(stdin ?? '');
    });
  }

  async apply(yaml: string, name = 'resources.yaml', apiUrl = this.apiUrl): Promise<CliResult> {
    const file = path.join(this.dir, name);
    writeFileSync(file, yaml);
    return this.cli(['apply', '-f', file], undefined, apiUrl);
  }

  async getJson<T = Record<string, any>[]>(kind: string): Promise<T> {
    const r = await this.cli(['get', kind, '-o', 'json']);
    if (r.code !== 0) throw new Error(`trellis get ${kind} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Waits until every connected proxy has ACKed the latest config sent to it. */
  async waitInSync(timeoutMs = 15_000, expectProxies?: number): Promise<Record<string, any>[]> {
    return waitFor(async () => {
      // the stored revision first: a change still in the control plane's debounce window is not
      // pushed yet, and proxies that ACKed the previous push must not count as in sync with it
      const { revision } = (await (await fetch(`${this.apiUrl}/api/v1/health`)).json()) as { revision: number };
      // nor one waiting in the debounce window (a sidecar that just registered, say)
      const { pending } = (await (await fetch(`${this.apiUrl}/api/v1/xds`)).json()) as { pending: boolean };
      if (pending) return undefined;
      const res = await fetch(`${this.apiUrl}/api/v1/proxies`);
      const proxies = (await res.json()) as Record<string, any>[];
      const connected = proxies.filter((p) => p.connected);
      if (expectProxies !== undefined && connected.length < expectProxies) return undefined;
      const inSync = (p: Record<string, any>) => p.ackedVersion !== null && p.ackedVersion === p.sentVersion && (p.ackedRevision ?? 0) >= revision;
      return connected.every(inSync) ? proxies : undefined;
    }, timeoutMs, 'every proxy to ACK its latest config');
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.group.stopAll(5000);
    await Promise.all([...this.pods.values()].map((p) => p.stopApp ? p.stopApp() : new Promise<void>((resolve) => { p.app.closeAllConnections(); p.app.close(() => resolve()); })));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The sum of a sidecar's /metrics samples whose line matches `pattern`. */
export async function sidecarMetric(pod: Pod, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://${pod.address}:15000/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** Polls `probe` every 100 ms until it returns a value; throws after `timeoutMs` naming what it waited for. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

/** Sends requests back to back (at most `concurrency` at once) until stopped; records every outcome. */
export class SteadyLoad {
  readonly outcomes: { status: number; pod?: string; error?: string }[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly mesh: Mesh, private readonly from: Pod, private readonly host: string, concurrency = 4, private readonly maxRequests = 20_000) {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running && this.outcomes.length < this.maxRequests) {
      try {
        const r = await this.mesh.request(this.from, this.host, '/');
        let pod: string | undefined;
        try { pod = (JSON.parse(r.body) as { pod?: string }).pod; } catch { /* an error body from the proxy */ }
        this.outcomes.push({ status: r.status, pod, error: r.headers['x-trellis-error'] as string | undefined });
      } catch (err) {
        this.outcomes.push({ status: 0, error: (err as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  failures() {
    return this.outcomes.filter((o) => o.status !== 200);
  }
}
