// A real etcd cluster for tests: members are `etcd` processes on loopback addresses, each with its
// own temporary data dir, stopped by pid and removed when the test ends.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessGroup, type Started } from '../../../src/common/process-group.js';

/** The etcd binary, or undefined when it is not installed (.ci/run installs Debian's etcd-server). */
export function findEtcd(): string | undefined {
  for (const candidate of [process.env.ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd']) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not there; try the next
    }
  }
  return undefined;
}

export const etcdMissing = findEtcd() === undefined
  ? 'etcd is not installed (Debian package etcd-server; .ci/run installs it); skipping the tests that need a real etcd'
  : undefined;

interface Member { name: string; address: string; dataDir: string; proc?: Started }

export class EtcdCluster {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-etcd-'));
  readonly group = new ProcessGroup(path.join(this.dir, 'etcd.log'));
  readonly members: Member[];
  private readonly binary = findEtcd() ?? 'etcd';

  /** Members on `${net}.${first}`, `${net}.${first + 1}`, ...; client port 2379, peer port 2380 on each. */
  constructor(net: string, first: number, size = 3) {
    this.members = Array.from({ length: size }, (_, i) => ({
      name: `m${i}`,
      address: `${net}.${first + i}`,
      dataDir: path.join(this.dir, `m${i}`),
    }));
  }

  static async start(net: string, first: number, size = 3): Promise<EtcdCluster> {
    const cluster = new EtcdCluster(net, first, size);
    try {
      for (let i = 0; i < size; i++) cluster.startMember(i, 'new');
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** `HOST:PORT,...` of every member, as `--store etcd://` wants them. */
  get endpoints(): string {
    return this.members.map((m) => `${m.address}:2379`).join(',');
  }

  get url(): string {
    return `etcd://${this.endpoints}`;
  }

  get hosts(): string[] {
    return this.members.map((m) => `http://${m.address}:2379`);
  }

  startMember(i: number, state: 'new' | 'existing' = 'existing'): void {
    const m = this.members[i];
    const initialCluster = this.members.map((x) => `${x.name}=http://${x.address}:2380`).join(',');
    m.proc = this.group.start(`etcd-${m.name}`, this.binary, [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `http://${m.address}:2379`, '--advertise-client-urls', `http://${m.address}:2379`,
      '--listen-peer-urls', `http://${m.address}:2380`, '--initial-advertise-peer-urls', `http://${m.address}:2380`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', path.basename(this.dir),
      '--logger', 'zap', '--log-level', 'error', '--heartbeat-interval', '100', '--election-timeout', '1000',
    ]);
  }

  /** SIGKILL by pid: the member vanishes as if its host died. */
  async kill(i: number): Promise<void> {
    const m = this.members[i];
    if (m.proc) await this.group.stop(m.proc, 'SIGKILL');
    m.proc = undefined;
  }

  async killAll(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
  }

  async restartAll(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) if (!this.members[i].proc) this.startMember(i);
    await this.waitHealthy();
  }

  /** Waits until each running member reports itself healthy (which needs a leader, hence a quorum). */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of this.members.filter((x) => x.proc)) {
      for (;;) {
        try {
          const res = await fetch(`http://${m.address}:2379/health`, { signal: AbortSignal.timeout(2000) });
          const body = (await res.json()) as { health?: string };
          if (body.health === 'true') break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`etcd member ${m.name} on ${m.address} not healthy after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async close(): Promise<void> {
    await this.group.stopAll(5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
