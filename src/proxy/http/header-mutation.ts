// Gateway API header modifiers on a flat [name, value, ...] header list, as Envoy applies
// them: removals first, then set (replaces every value of the name), then add (appends).
import type { HeaderMutation } from '../config/proxy-config.js';

export function applyHeaderMutation(raw: readonly string[], m: HeaderMutation): string[] {
  const out: string[] = [];
  const drop = m.remove;
  const set = m.set;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (drop.includes(lower)) continue;
    let replaced = false;
    for (let j = 0; j < set.length; j++) {
      if (set[j][0] === lower) {
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push(raw[i], raw[i + 1]);
  }
  for (const [name, value] of set) out.push(name, value);
  for (const [name, value] of m.add) out.push(name, value);
  return out;
}
