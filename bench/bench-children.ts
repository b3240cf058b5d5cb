import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SpawnOptions {
  /** CPU list for `taskset -c`; null runs unpinned. */
  readonly cpus: string | null;
  /** 'log' sends stdout+stderr to `<logDir>/<name>.log`; 'pipe' collects stdout in memory (wrk). */
  readonly output: 'log' | 'pipe';
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  readonly spawnError: Error | null;
}

export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** Collected stdout ('pipe' mode); empty in 'log' mode. */
  stdout(): string;
  /** Last non-empty lines of the child's log ('log' mode) or stderr ('pipe'), on one line for messages. */
  logTail(lines?: number): string;
}

interface Entry {
  readonly child: BenchChild;
  readonly proc: ChildProcess;
  running: boolean;
}

const stopGraceMs = 3000;
const maxTailChars = 400;
const errorLine = /^(\w*Error\b|.*\[(ALERT|emerg)\])/;

/**
 * Every process the bench starts, so that all of them (and only them) can be stopped by
 * process group: each child is spawned detached, i.e. leader of its own group, so that
 * nginx's workers or a CLI's sub-processes go with it.
 */
export class BenchChildren {
  private readonly entries: Entry[] = [];

  constructor(private readonly logDir: string) {}

  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions): BenchChild {
    const file = options.cpus === null ? command : 'taskset';
    // taskset execs the command, so the pid we get is the command's own pid.
    const argv = options.cpus === null ? [...args] : ['-c', options.cpus, command, ...args];
    const logPath = join(this.logDir, `${name}.log`);
    let logFd: number | null = null;
    let stdio: ('ignore' | 'pipe' | number)[];
    if (options.output === 'log') {
      logFd = openSync(logPath, 'a');
      stdio = ['ignore', logFd, logFd];
    } else {
      stdio = ['ignore', 'pipe', 'pipe'];
    }
    const proc = spawn(file, argv, { detached: true, stdio, env: options.env ?? process.env, cwd: options.cwd });
    if (logFd !== null) closeSync(logFd);
    let out = '';
    let err = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
    const exited = new Promise<ExitInfo>((resolve) => {
      proc.once('error', (error) => resolve({ code: null, signal: null, spawnError: error }));
      // 'exit' can come before the last of stdout is read: in pipe mode wait for the pipes to close.
      proc.once(options.output === 'pipe' ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, spawnError: null }));
    });
    const child: BenchChild = {
      name,
      pid: proc.pid ?? -1,
      exited,
      isRunning: () => entry.running,
      stdout: () => out,
      logTail: (lines = 4) => {
        const text = options.output === 'log' ? safeRead(logPath) : err;
        const all = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
        // A crash's stack trace buries its cause: lead with the first line that names an error.
        const cause = all.find((l) => errorLine.test(l));
        const tail = [...(cause === undefined ? [] : [cause]), ...all.slice(-lines).filter((l) => l !== cause)].join(' | ');
        return tail.length > maxTailChars ? `...${tail.slice(-maxTailChars)}` : tail || '(no output)';
      },
    };
    const entry: Entry = { child, proc, running: proc.pid !== undefined };
    void exited.then(() => { entry.running = false; });
    this.entries.push(entry);
    return child;
  }

  /** SIGTERM to the child's group, SIGKILL after a grace period. */
  async stop(child: BenchChild): Promise<void> {
    const entry = this.entries.find((e) => e.child === child);
    if (entry === undefined || !entry.running) return;
    signalGroup(entry.child.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, stopGraceMs, 'timeout').unref());
    if ((await Promise.race([entry.child.exited, timer])) === 'timeout') {
      signalGroup(entry.child.pid, 'SIGKILL');
      await entry.child.exited;
    }
    // The leader may be gone while a member of its group lingers (a worker that ignored SIGTERM).
    signalGroup(entry.child.pid, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.entries.map((e) => this.stop(e.child)));
  }

  /** Last resort from a synchronous 'exit' handler: no waiting possible. */
  killAllNow(): void {
    for (const e of this.entries) if (e.running) signalGroup(e.child.pid, 'SIGKILL');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
