import type { LogLevel } from '../common/log.js';
import { endStartupTiering, tuneV8ForSidecar } from '../proxy/proxy-v8-tuning.js';
import { onShutdown } from './shutdown.js';
import { proxyLimits, type ProxyLimits } from '../proxy/config/proxy-limits.js';

/** The flag of each limit, so a rejected combination names what the user typed. */
const limitFlags: Record<keyof ProxyLimits, string> = {
  maxHeaderBytes: '--max-header-size', maxHeaders: '--max-headers', maxRequestLineBytes: '--max-request-line',
  headerTimeoutMs: '--header-timeout', idleTimeoutMs: '--idle-timeout', streamIdleTimeoutMs: '--stream-idle-timeout',
  maxConnections: '--max-connections', maxMemoryBytes: '--max-memory',
};

function checkedLimits(l: Partial<ProxyLimits>): Partial<ProxyLimits> {
  try {
    proxyLimits(l);
    return l;
  } catch (err) {
    throw new Error((err as Error).message.replace(/limits\.(\w+)/g, (m, k: string) => limitFlags[k as keyof ProxyLimits] ?? m));
  }
}

export interface ProxyFlags {
  service: string; namespace: string; app?: string; address: string; labels: Record<string, string>;
  control: string; stateDir?: string; id?: string; ingressFor?: string; egress?: string[];
  adminPort: number; outboundPort: number; inboundPort: number; drain: number; logLevel: LogLevel;
  token?: string; caApi?: string; accessLog?: string;
  intercept?: boolean; uid?: number; gid?: number;
  maxHeaderSize: number; maxHeaders: number; maxRequestLine: number; headerTimeout: number; idleTimeout: number;
  streamIdleTimeout: number; maxConnections: number; maxMemory: number;
  requestMetrics: boolean;
}

/**
 * Becomes the sidecar's own user before anything opens: with interception the iptables rules
 * exempt that uid (or gid), so the sidecar's upstream connections are not redirected to itself.
 */
export function dropPrivileges(uid: number | undefined, gid: number | undefined): void {
  if (uid === undefined && gid === undefined) return;
  const current = process.getuid?.() ?? -1;
  if (current !== 0) throw new Error(`--uid/--gid need the sidecar to start as root (it runs as uid ${current})`);
  process.setgroups?.([]);
  process.setgid?.(gid ?? uid!);
  if (uid !== undefined) process.setuid?.(uid);
}

export async function proxyCommand(flags: ProxyFlags): Promise<void> {
  // This process runs the sidecar alone, so V8 may be tuned for it; that must happen before the
  // proxy's modules load, hence the dynamic import.
  dropPrivileges(flags.uid, flags.gid);
  if (flags.intercept && process.getuid?.() === 0 && process.getgid?.() === 0) {
    throw new Error('--intercept: the sidecar must run as the uid (or gid) trellis init exempts, not as root: give --uid 1337 (or --gid), or its own connections would be redirected back to itself');
  }
  tuneV8ForSidecar();
  const limits = checkedLimits({
    maxHeaderBytes: flags.maxHeaderSize, maxHeaders: flags.maxHeaders, maxRequestLineBytes: flags.maxRequestLine,
    headerTimeoutMs: flags.headerTimeout, idleTimeoutMs: flags.idleTimeout, streamIdleTimeoutMs: flags.streamIdleTimeout,
    maxConnections: flags.maxConnections, maxMemoryBytes: flags.maxMemory,
  });
  const { startProxy } = await import('../proxy/main.js');
  const proxy = await startProxy({
    service: flags.service, namespace: flags.namespace, app: flags.app, address: flags.address, labels: flags.labels,
    control: flags.control, stateDir: flags.stateDir, id: flags.id, ingressFor: flags.ingressFor, egress: flags.egress,
    adminPort: flags.adminPort, outboundPort: flags.outboundPort, inboundPort: flags.inboundPort,
    drainMs: flags.drain, logLevel: flags.logLevel, token: flags.token, caApi: flags.caApi, accessLog: flags.accessLog, intercept: flags.intercept, onFirstConfig: endStartupTiering,
    limits, requestMetrics: flags.requestMetrics,
  });
  process.stderr.write(`trellis proxy ${flags.service} on ${flags.address}: admin :${proxy.admin.port}, control ${flags.control}\n`);
  onShutdown(() => proxy.close());
}
