import { resourceKey, type Resource } from '../../resources/kinds.js';
import { canonicalJson } from './canonical-json.js';
import type { ApplyOutcome, StoredResource } from './store.js';

/**
 * What applying `resources` over `current` would store: the outcome per resource and the new
 * versions of the changed ones, with generation and creation time carried over. Stores share it
 * so that "unchanged" means the same everywhere.
 */
export function planApply(
  current: (key: string) => StoredResource | undefined,
  resources: Resource[],
  timestamp: string,
): { outcomes: ApplyOutcome[]; changed: Map<string, StoredResource> } {
  const changed = new Map<string, StoredResource>();
  const outcomes: ApplyOutcome[] = [];
  for (const r of resources) {
    const key = resourceKey(r);
    const old = changed.get(key) ?? current(key);
    const namespace = r.metadata.namespace ?? 'default';
    const base = { kind: r.kind, namespace, name: r.metadata.name };
    if (old && sameContent(old, r)) {
      outcomes.push({ ...base, action: 'unchanged' });
      continue;
    }
    changed.set(key, {
      ...r,
      metadata: {
        ...r.metadata,
        namespace,
        generation: old ? old.metadata.generation + 1 : 1,
        creationTimestamp: old ? old.metadata.creationTimestamp : timestamp,
      },
    } as StoredResource);
    outcomes.push({ ...base, action: old ? 'configured' : 'created' });
  }
  return { outcomes, changed };
}

function withoutBookkeeping(r: Resource): unknown {
  const { generation: _g, creationTimestamp: _c, ...metadata } = r.metadata as StoredResource['metadata'];
  return { ...r, metadata: { ...metadata, namespace: metadata.namespace ?? 'default' } };
}

export function sameContent(a: Resource, b: Resource): boolean {
  return canonicalJson(withoutBookkeeping(a)) === canonicalJson(withoutBookkeeping(b));
}
