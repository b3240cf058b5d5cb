import { createHash } from 'node:crypto';

/**
 * Compiled resources shared by every proxy that needs them and kept from one refresh pass to the
 * next, keyed by a fingerprint of everything they are compiled from: a resource whose inputs did
 * not change is neither compiled nor encoded again, and proxies with the same view share one
 * object (and so one encoding). Entries unused during a whole pass are dropped by `sweep()`.
 */
export class CompileCache {
  private current = new Map<string, unknown>();
  private previous = new Map<string, unknown>();
  private made = 0;

  get<T>(key: string, make: () => T): T {
    if (this.current.has(key)) return this.current.get(key) as T;
    let value: T;
    if (this.previous.has(key)) value = this.previous.get(key) as T;
    else {
      value = make();
      this.made++;
    }
    this.current.set(key, value);
    return value;
  }

  /** Ends a pass: what was not used since the previous sweep is forgotten. */
  sweep(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  /** Entries compiled so far (not found in the cache): a measure of the work done. */
  get compiled(): number {
    return this.made;
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}

/** A short, fixed-length key for a long fingerprint text. */
export function digestKey(text: string): string {
  return text.length <= 64 ? text : createHash('sha1').update(text).digest('base64');
}
