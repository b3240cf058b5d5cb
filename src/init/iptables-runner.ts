// Runs iptables in the current network namespace (`ip netns exec POD trellis init`): removes
// Trellis's chains (and only those), then loads the new rules in one atomic iptables-restore.
import { spawn } from 'node:child_process';
import { buildRemoval } from './intercept-rules.js';

export interface IptablesResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type IptablesExec = (command: string, args: string[], input?: string) => Promise<IptablesResult>;

/** Spawns the command; a missing binary becomes a clear error, not an ENOENT stack. */
export const execIptables: IptablesExec = (command, args, input) => new Promise((resolve, reject) => {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  child.on('error', (err: NodeJS.ErrnoException) => {
    reject(new Error(err.code === 'ENOENT'
      ? `${command} not found: install iptables (Debian: apt-get install iptables) or name the binary with --iptables`
      : `${command}: ${err.message}`));
  });
  child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input ?? '');
});

/** `iptables` → `iptables-restore`, `iptables-legacy` → `iptables-legacy-restore`, a path likewise. */
export function restoreCommandFor(iptables: string): string {
  return `${iptables}-restore`;
}

export class IptablesRunner {
  constructor(private readonly iptables: string, private readonly exec: IptablesExec = execIptables) {}

  /** `iptables -t nat -S`: the nat table's rules in argument form. */
  async listNat(): Promise<string> {
    const r = await this.exec(this.iptables, ['-w', '-t', 'nat', '-S']);
    if (r.code !== 0) throw new Error(`${this.iptables} -t nat -S failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Removes every Trellis chain and every jump into one; returns what it removed (none: []). */
  async remove(): Promise<string[]> {
    const { deleteRules, chains } = buildRemoval(await this.listNat());
    const done: string[] = [];
    for (const args of deleteRules) {
      await this.run(['-t', 'nat', ...args]);
      done.push(`-t nat ${args.join(' ')}`);
    }
    // flush all first: our chains jump to each other, and a chain still referenced cannot be deleted
    for (const c of chains) await this.run(['-t', 'nat', '-F', c]);
    for (const c of chains) {
      await this.run(['-t', 'nat', '-X', c]);
      done.push(`-t nat -X ${c}`);
    }
    return done;
  }

  /** Replaces whatever Trellis installed before with `rules` (iptables-restore text). */
  async install(rules: string): Promise<void> {
    await this.remove();
    const restore = restoreCommandFor(this.iptables);
    const r = await this.exec(restore, ['-w', '--noflush'], rules);
    if (r.code !== 0) throw new Error(`${restore} --noflush failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }

  private async run(args: string[]): Promise<void> {
    const r = await this.exec(this.iptables, ['-w', ...args]);
    if (r.code !== 0) throw new Error(`${this.iptables} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
}
