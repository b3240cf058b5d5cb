import { startProxy } from '../proxy/main.js';
import type { LogLevel } from '../common/log.js';
import { onShutdown } from './shutdown.js';

export interface ProxyFlags {
  service: string; namespace: string; app?: string; address: string; labels: Record<string, string>;
  control: string; stateDir?: string; id?: string; ingressFor?: string;
  adminPort: number; outboundPort: number; inboundPort: number; drain: number; logLevel: LogLevel;
}

export async function proxyCommand(flags: ProxyFlags): Promise<void> {
  const proxy = await startProxy({
    service: flags.service, namespace: flags.namespace, app: flags.app, address: flags.address, labels: flags.labels,
    control: flags.control, stateDir: flags.stateDir, id: flags.id, ingressFor: flags.ingressFor,
    adminPort: flags.adminPort, outboundPort: flags.outboundPort, inboundPort: flags.inboundPort,
    drainMs: flags.drain, logLevel: flags.logLevel,
  });
  process.stderr.write(`trellis proxy ${flags.service} on ${flags.address}: admin :${proxy.admin.port}, control ${flags.control}\n`);
  onShutdown(() => proxy.close());
}
