// Keeps a Prometheus file-based service discovery file (file_sd_configs) equal to the connected
// sidecars, so a stock Prometheus scrapes every sidecar's admin port without knowing the mesh.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { Instance, Registry } from '../registry.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export const TARGETS_FILE = path.join('prometheus', 'targets.json');

/** One group per sidecar so that each carries its own labels; Prometheus label names, snake_case. */
export function targetGroups(instances: readonly Instance[]): TargetGroup[] {
  return instances
    .filter((i) => i.connected && i.adminPort > 0)
    .map((i) => ({
      targets: [`${i.address.includes(':') ? `[${i.address}]` : i.address}:${i.adminPort}`],
      labels: { service: i.service, namespace: i.namespace, proxy_id: i.proxyId, zone: i.zone ?? '' },
    }));
}

export class PrometheusTargets {
  readonly file: string;
  private lastWritten: string | undefined;
  private writing: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: { registry: Registry; dataDir: string; logger: Logger }) {
    // absolute: Prometheus resolves a relative file_sd path against its own config file
    this.file = path.resolve(opts.dataDir, TARGETS_FILE);
  }

  /** Writes the file now and again on every registry change (connect, disconnect, drop). */
  async start(): Promise<void> {
    this.unsubscribe = this.opts.registry.onChange(() => void this.write());
    await this.write();
  }

  current(): TargetGroup[] {
    return targetGroups(this.opts.registry.list());
  }

  /** Chained so writes land in order; the file changes only when its content does. */
  write(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const text = JSON.stringify(this.current(), null, 1) + '\n';
      if (text === this.lastWritten) return;
      try {
        await mkdir(path.dirname(this.file), { recursive: true });
        await writeFileAtomic(this.file, text);
        this.lastWritten = text;
      } catch (err) {
        this.opts.logger.error({ err, file: this.file }, 'cannot write the Prometheus targets file');
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.writing;
  }
}
