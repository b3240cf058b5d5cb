// `trellis init`: transparent interception for the network namespace it runs in (a pod, or a
// host), like Istio's istio-init. Run it as root inside the namespace: `ip netns exec POD trellis init`.
import { buildInterceptRules, type InterceptOptions } from '../init/intercept-rules.js';
import { IptablesRunner, restoreCommandFor, type IptablesExec } from '../init/iptables-runner.js';

export interface InitFlags extends InterceptOptions {
  iptables: string;
  dryRun: boolean;
  remove: boolean;
}

export interface InitDeps {
  exec?: IptablesExec;
  uid?: number;
  out?: (s: string) => void;
}

export async function initCommand(flags: InitFlags, deps: InitDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(s));
  if (!flags.remove) validate(flags);
  const rules = flags.remove ? '' : buildInterceptRules(flags);
  if (flags.dryRun) {
    out(flags.remove
      ? `# would remove every ${'TRELLIS_*'} chain of the nat table and the jumps into them\n`
      : `# ${restoreCommandFor(flags.iptables)} --noflush, after removing any previous TRELLIS_* chains\n${rules}`);
    return 0;
  }
  const uid = deps.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) throw new Error(`trellis init changes iptables rules and must run as root (running as uid ${uid}); e.g. sudo ip netns exec POD trellis init`);
  const runner = new IptablesRunner(flags.iptables, deps.exec);
  if (flags.remove) {
    const removed = await runner.remove();
    out(removed.length === 0 ? 'no Trellis interception rules to remove\n' : `removed ${removed.length} rules and chains\n`);
    return 0;
  }
  await runner.install(rules);
  const uids = [...flags.proxyUids.map((u) => `uid ${u}`), ...flags.proxyGids.map((g) => `gid ${g}`)].join(', ');
  out(`interception on: outbound TCP -> :${flags.outboundPort}, inbound TCP -> :${flags.inboundPort}; the sidecar (${uids}) is not intercepted\n`);
  return 0;
}

function validate(f: InitFlags): void {
  if (f.proxyUids.length === 0 && f.proxyGids.length === 0) {
    throw new Error('--proxy-uid or --proxy-gid is required: the sidecar\'s own traffic must not be redirected back to itself');
  }
  if (f.outboundPort === f.inboundPort) throw new Error(`--outbound-port and --inbound-port must differ (both ${f.outboundPort})`);
  for (const [flag, port] of [['--outbound-port', f.outboundPort], ['--inbound-port', f.inboundPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${flag}: ${port} is not a port number (1-65535)`);
  }
}
