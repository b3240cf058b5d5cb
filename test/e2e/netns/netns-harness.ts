// Several "hosts" as Linux network namespaces on one machine: each joined by a veth pair to a
// bridge that lives in a "fabric" namespace of its own, so nothing touches the machine's network.
// Addresses are 10.200.0.x/16 and exist only inside these namespaces. Everything created is
// named with a per-run prefix (trn<pid>) and removed at the end, on failure, on SIGINT/SIGTERM
// and at exit; namespaces left by a crashed earlier run (its pid gone) are removed on the next.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';

const PREFIX_PATTERN = /^trn(\d+)-/;
const NETNS_ETC = '/etc/netns';

/** Why these tests cannot run here, or null when they can (root, iproute2, iptables). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return `network namespaces need root (running as uid ${process.getuid?.()})`;
  for (const tool of ['ip', 'iptables']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `\`${tool}\` is not installed (Debian: apt-get install ${tool === 'ip' ? 'iproute2' : 'iptables'})`;
    }
  }
  return null;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HostProcess {
  name: string;
  host: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export interface Host {
  name: string;
  /** The namespace's name (for `ip netns exec`). */
  ns: string;
  address: string;
  /** The fabric side of its veth pair: taking it down cuts the host off. */
  fabricLink: string;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryIp(args: string[]): void {
  try {
    ip(args);
  } catch { /* already gone */ }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces (and their /etc/netns files) of earlier runs whose process is gone; only trn<pid>-*. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  } catch { /* no namespaces */ }
  const etc = existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC) : [];
  for (const name of new Set([...names, ...etc])) {
    const m = PREFIX_PATTERN.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    killNamespaceProcesses(name);
    tryIp(['netns', 'del', name]);
    rmSync(path.join(NETNS_ETC, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** SIGKILL to whatever still runs in a namespace (`ip netns pids`): a crashed run's leftovers. */
function killNamespaceProcesses(ns: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch { return; }
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export class NetnsFabric {
  readonly prefix = `trn${process.pid}`;
  readonly fabric = `${this.prefix}-fabric`;
  private readonly bridge = `${this.prefix}br`;
  readonly hosts = new Map<string, Host>();
  private readonly processes: HostProcess[] = [];
  private readonly log: WriteStream | undefined;
  private destroyed = false;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.destroySync();
    process.kill(process.pid, signal);
  };
  private readonly onExit = () => this.destroySync();

  constructor(readonly logFile?: string) {
    this.log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    removeStaleNamespaces();
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.once('exit', this.onExit);
  }

  /** Creates the fabric (a bridge in its own namespace) and one namespace per host, addressed 10.200.0.<n>/16. */
  create(hosts: Array<{ name: string; octet: number }>): void {
    ip(['netns', 'add', this.fabric]);
    ip(['-n', this.fabric, 'link', 'add', this.bridge, 'type', 'bridge']);
    ip(['-n', this.fabric, 'link', 'set', this.bridge, 'up']);
    ip(['-n', this.fabric, 'link', 'set', 'lo', 'up']);
    hosts.forEach(({ name, octet }, i) => {
      const ns = `${this.prefix}-${name}`;
      const fabricLink = `${this.prefix}v${i}`;
      const hostLink = `${this.prefix}h${i}`;
      const address = `10.200.0.${octet}`;
      ip(['netns', 'add', ns]);
      this.hosts.set(name, { name, ns, address, fabricLink });
      ip(['-n', this.fabric, 'link', 'add', fabricLink, 'type', 'veth', 'peer', 'name', hostLink, 'netns', ns]);
      ip(['-n', this.fabric, 'link', 'set', fabricLink, 'master', this.bridge]);
      ip(['-n', this.fabric, 'link', 'set', fabricLink, 'up']);
      ip(['-n', ns, 'link', 'set', hostLink, 'name', 'eth0']);
      ip(['-n', ns, 'addr', 'add', `${address}/16`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    });
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host "${name}" (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** Name resolution inside one host: iproute2 bind-mounts /etc/netns/<ns>/hosts over /etc/hosts. */
  setHostsFile(name: string, entries: Record<string, string>): void {
    const dir = path.join(NETNS_ETC, this.host(name).ns);
    mkdirSync(dir, { recursive: true });
    const lines = ['127.0.0.1 localhost', ...Object.entries(entries).map(([n, a]) => `${a} ${n}`)];
    writeFileSync(path.join(dir, 'hosts'), `${lines.join('\n')}\n`);
  }

  /** Runs a command in a host to completion (bounded), like `ip netns exec NS cmd args`. */
  exec(name: string, command: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    const ns = this.host(name).ns;
    return new Promise((resolve) => {
      const child = execFile('ip', ['netns', 'exec', ns, command, ...args], { timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
      child.stdin?.on('error', () => undefined); // a command that never reads its input
      child.stdin?.end(opts.input ?? '');
    });
  }

  /** Starts a long-running process in a host, in its own process group; its output goes to the log file. */
  spawn(name: string, label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): HostProcess {
    const ns = this.host(name).ns;
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    const tag = `[${name}/${label}] `;
    const write = (c: Buffer) => this.log?.write(tag + c.toString().replace(/\n(?=.)/g, `\n${tag}`));
    child.stdout!.on('data', write);
    child.stderr!.on('data', write);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    const p = { name: label, host: name, child, exited };
    this.processes.push(p);
    return p;
  }

  /** SIGTERM (then SIGKILL after graceMs) to one process's group; resolves once it exited. */
  async stop(p: HostProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    signalGroup(p.child, signal);
    const timer = setTimeout(() => signalGroup(p.child, 'SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  /** Kills every process this harness started in a host (a host that dies). */
  async killHost(name: string): Promise<void> {
    await Promise.all(this.processes.filter((p) => p.host === name).map((p) => this.stop(p, 'SIGKILL')));
  }

  /** Cuts a host off the fabric (its cable pulled): nothing in or out until restore(). */
  cut(name: string): void {
    ip(['-n', this.fabric, 'link', 'set', this.host(name).fabricLink, 'down']);
  }

  restore(name: string): void {
    ip(['-n', this.fabric, 'link', 'set', this.host(name).fabricLink, 'up']);
  }

  /** Stops every process (SIGTERM, then SIGKILL), then removes namespaces and files. */
  async destroy(): Promise<void> {
    await Promise.all([...this.processes].reverse().map((p) => this.stop(p, 'SIGTERM', 3000)));
    this.destroySync();
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
  }

  /** The synchronous part, also run on a signal or at exit. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.processes) if (p.child.exitCode === null && p.child.signalCode === null) signalGroup(p.child, 'SIGKILL');
    for (const h of this.hosts.values()) {
      killNamespaceProcesses(h.ns);
      tryIp(['netns', 'del', h.ns]);
      rmSync(path.join(NETNS_ETC, h.ns), { recursive: true, force: true });
    }
    tryIp(['netns', 'del', this.fabric]);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    process.removeListener('exit', this.onExit);
  }

  /** Namespaces of this run still present (for the cleanup assertion). */
  leftovers(): string[] {
    let names: string[] = [];
    try {
      names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]);
    } catch { /* none */ }
    const etc = existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC) : [];
    return [...names, ...etc].filter((n) => n.startsWith(`${this.prefix}-`));
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}
