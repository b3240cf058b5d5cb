// Flag values of `trellis init`, parsed strictly: a typo in a port or CIDR list must fail before
// any rule is touched, naming the flag and the value.
import { isIPv4 } from 'node:net';

/** "8080,9090" → [8080, 9090]; "" → []. */
export function parsePortList(value: string, flag: string): number[] {
  if (value.trim() === '') return [];
  return value.split(',').map((raw) => {
    const s = raw.trim();
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new Error(`${flag}: "${s}" is not a port number (1-65535)`);
    return n;
  });
}

/** "*" (all) or a port list. */
export function parsePortsOrAll(value: string, flag: string): '*' | number[] {
  return value.trim() === '*' ? '*' : parsePortList(value, flag);
}

/** "10.0.0.0/8,192.0.2.7" → ["10.0.0.0/8", "192.0.2.7/32"]; IPv4 only (the rules are iptables'). */
export function parseCidrList(value: string, flag: string): string[] {
  if (value.trim() === '') return [];
  return value.split(',').map((raw) => parseCidr(raw.trim(), flag));
}

export function parseCidrsOrAll(value: string, flag: string): '*' | string[] {
  return value.trim() === '*' ? '*' : parseCidrList(value, flag);
}

export function parseCidr(s: string, flag: string): string {
  const [ip, len, ...rest] = s.split('/');
  const bits = len === undefined ? 32 : Number(len);
  if (rest.length > 0 || !isIPv4(ip) || (len !== undefined && !/^\d+$/.test(len)) || bits > 32) {
    throw new Error(`${flag}: "${s}" is not an IPv4 address or CIDR (such as 10.0.0.0/8)`);
  }
  return `${ip}/${bits}`;
}

/** A uid or gid list ("1337" or "1337,1338"). */
export function parseIdList(value: string, flag: string): number[] {
  if (value.trim() === '') return [];
  return value.split(',').map((raw) => {
    const s = raw.trim();
    if (!/^\d+$/.test(s) || Number(s) > 0xfffffffe) throw new Error(`${flag}: "${s}" is not a numeric id`);
    return Number(s);
  });
}
