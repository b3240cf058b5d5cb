import { startControlPlane } from '../control/main.js';
import type { LogLevel } from '../common/log.js';
import type { ApiAuthMode } from '../control/auth/api-auth.js';
import type { XdsAuthMode } from '../control/auth/xds-auth.js';
import { onShutdown } from './shutdown.js';

export interface ControlFlags {
  dataDir: string; listen: string; xdsPort: number; apiPort: number; grace: number; logLevel: LogLevel; store?: string;
  caCert?: string; caKey?: string; caKeyPassphraseFile?: string; certTtl?: number; apiAuth?: ApiAuthMode; xdsAuth?: XdsAuthMode;
  debounce?: number; debounceMax?: number;
}

export async function controlCommand(flags: ControlFlags): Promise<void> {
  const cp = await startControlPlane({
    dataDir: flags.dataDir, listen: flags.listen, xdsPort: flags.xdsPort, apiPort: flags.apiPort,
    graceMs: flags.grace, logLevel: flags.logLevel, store: flags.store,
    caCertFile: flags.caCert, caKeyFile: flags.caKey, caKeyPassphraseFile: flags.caKeyPassphraseFile, certTtlMs: flags.certTtl, apiAuth: flags.apiAuth, xdsAuth: flags.xdsAuth,
    debounce: { quietMs: flags.debounce, maxMs: flags.debounceMax },
  });
  process.stderr.write(`trellis control: xDS on ${flags.listen}:${cp.xdsPort}, API and dashboard on http://${flags.listen}:${cp.apiPort}/, data in ${flags.dataDir}${flags.store ? `, store ${flags.store}` : ''}\n`);
  onShutdown(() => cp.close());
}
