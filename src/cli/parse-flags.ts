// Flag values shared by several commands, parsed strictly so a typo fails loudly.

export function parseLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!value) return labels;
  for (const pair of value.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new Error(`--labels: "${pair}" is not key=value`);
    const key = pair.slice(0, i).trim();
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/.test(key)) throw new Error(`--labels: "${key}" is not a valid label key`);
    labels[key] = pair.slice(i + 1).trim();
  }
  return labels;
}

/** `api,inventory.shop`: service names, each `name` or `name.namespace`. */
export function parseServiceList(value: string): string[] {
  const names = value.split(',').map((n) => n.trim()).filter((n) => n.length > 0);
  if (names.length === 0) throw new Error('--egress: expected at least one service name');
  for (const n of names) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/.test(n)) throw new Error(`--egress: "${n}" is not a service name (name or name.namespace)`);
  }
  return names;
}

export function parseHostPort(value: string, flag: string): { address: string; port: number } {
  const i = value.lastIndexOf(':');
  const port = Number(value.slice(i + 1));
  const address = value.slice(0, i).replace(/^\[|\]$/g, '');
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${flag}: "${value}" is not ADDR:PORT`);
  return { address, port };
}

/** `ADDR:PORT[,ADDR:PORT...]`: each checked, none twice. */
export function parseHostPortList(value: string, flag: string): { address: string; port: number }[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`${flag}: expected ADDR:PORT[,ADDR:PORT...]`);
  const duplicate = items.find((s, i) => items.indexOf(s) !== i);
  if (duplicate) throw new Error(`${flag}: "${duplicate}" is listed twice`);
  return items.map((s) => parseHostPort(s, flag));
}

export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${flag}: "${value}" is not a port number`);
  return port;
}

/** "5s", "500ms", "2m" or plain milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new Error(`${flag}: "${value}" is not a duration such as 500ms, 5s, 1m or 30d`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const)[unit as 'ms' | 's' | 'm' | 'h' | 'd']);
}

/** "60KiB", "16k", "512MiB", "1GB" (1024-based, as memory limits are) or plain bytes. */
export function parseSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(value.trim());
  if (!m) throw new Error(`${flag}: "${value}" is not a size such as 60KiB, 512MiB or 1GiB`);
  const unit = (m[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g';
  return Math.round(Number(m[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]);
}

export function parseCount(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new Error(`${flag}: "${value}" is not a whole number`);
  return n;
}
