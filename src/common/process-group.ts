import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface Started {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/**
 * Child processes started together and stopped together: each in its own process group so a
 * stop reaches its children too, and stopped by pid only (never by name).
 */
export class ProcessGroup {
  private readonly started: Started[] = [];

  constructor(private readonly logFile?: string) {
    if (logFile) this.log = createWriteStream(logFile, { flags: 'a' });
  }

  private log?: WriteStream;

  start(name: string, command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; onExit?: (code: number | null) => void } = {}): Started {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const prefix = (chunk: Buffer) => `[${name}] ${chunk.toString().replace(/\n(?=.)/g, `\n[${name}] `)}`;
    child.stdout!.on('data', (c: Buffer) => this.log?.write(prefix(c)));
    child.stderr!.on('data', (c: Buffer) => this.log?.write(prefix(c)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => {
      opts.onExit?.(code);
      resolve(code ?? (signal ? 128 : null));
    }));
    const s = { name, child, exited };
    this.started.push(s);
    return s;
  }

  /** SIGTERM to the named process (its group), SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(s: Started, signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return;
    signalGroup(s.child, signal);
    const timer = setTimeout(() => signalGroup(s.child, 'SIGKILL'), graceMs);
    await s.exited;
    clearTimeout(timer);
  }

  async stopAll(graceMs = 8000): Promise<void> {
    await Promise.all([...this.started].reverse().map((s) => this.stop(s, 'SIGTERM', graceMs)));
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
    this.log = undefined;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

/** Polls `url` until it answers 200, or throws after `timeoutMs` naming what it waited for. */
export async function waitForHttp(url: string, timeoutMs = 15_000, what = url): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
}
