import type { ExternalService } from '../../resources/external-service.js';
import type { NodeInfo } from '../../xds/node.js';
import type { MeshIndex } from './mesh-index.js';
import { serviceKey, type MeshService } from './mesh-services.js';

/** The part of the mesh one proxy's config covers. */
export interface EgressScope {
  services: readonly MeshService[];
  externals: readonly ExternalService[];
  /** Identifies the scope: proxies with equal keys see the same services. */
  key: string;
}

/** `api` (the node's namespace) or `api.shop` → the service key. */
export function egressKey(name: string, namespace: string): string {
  return name.includes('.') ? name : serviceKey(name, namespace);
}

/**
 * What a proxy's config must cover (like an Istio Sidecar's egress hosts or a Consul upstream
 * list): every service when the node declares no egress list; otherwise the services it lists,
 * the service an ingress fronts, and every backend their accepted routes send or mirror to (a
 * route's cluster must exist where the route does). Names that match nothing yet are kept in
 * mind: they take effect when such a service appears.
 */
export function egressScope(index: MeshIndex, node: NodeInfo): EgressScope {
  if (!node.egress) return { services: index.services, externals: index.externals, key: '*' };
  const wanted = new Set(node.egress.map((n) => egressKey(n, node.namespace)));
  if (node.ingressFor) wanted.add(serviceKey(node.ingressFor, node.namespace));
  const queue = [...wanted];
  while (queue.length) {
    const key = queue.pop()!;
    for (const route of index.attached.get(key) ?? []) {
      const ns = route.metadata.namespace ?? 'default';
      for (const rule of route.spec.rules) {
        const refs = [...rule.backendRefs, ...(rule.filters ?? []).flatMap((f) => (f.type === 'RequestMirror' ? [f.requestMirror.backendRef] : []))];
        for (const ref of refs) {
          const backend = serviceKey(ref.name, ref.namespace ?? ns);
          if (!wanted.has(backend)) {
            wanted.add(backend);
            queue.push(backend);
          }
        }
      }
    }
  }
  const services = index.services.filter((s) => wanted.has(s.key));
  const externals = index.externals.filter((e) => wanted.has(serviceKey(e.metadata.name, e.metadata.namespace ?? 'default')));
  return { services, externals, key: [...wanted].sort().join(',') };
}
