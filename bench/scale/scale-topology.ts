// The simulated mesh of `npm run bench:scale`, generated deterministically from its sizes.
//
// Endpoints are the simulated sidecars' own registrations (their xDS Node: address, inbound
// port, labels), nothing else. To reach E endpoints with N sidecars, each sidecar belongs to
// g = E / N Services through label selectors, as a pod does when several Services select it
// (Kubernetes counts one endpoint per Service and pod): Service s selects `g<s mod g>:
// <s div g>`, and sidecar i carries one value for each of the g label keys, so every sidecar is
// an endpoint of exactly g Services and the ClusterLoadAssignments hold N × g endpoints in all.
import type { NodeInfo } from '../../src/xds/node.js';

export interface ScaleSizes {
  sidecars: number;
  services: number;
  endpoints: number;
  /** Services each sidecar calls (its egress list), the hot service included. */
  egress: number;
}

export interface ScaleTopology {
  sizes: ScaleSizes;
  /** Selector label keys per sidecar: the Services each one is an endpoint of. */
  membership: number;
  nodes: NodeInfo[];
  /** Every Service resource plus the hot service's first HTTPRoute, as YAML. */
  resourcesYaml: string;
  /** Endpoints in all ClusterLoadAssignments. */
  endpointCount: number;
}

/** The service every sidecar calls: the route and endpoint changes are made to it. */
export const hotService = 'svc-0';
export const hotRoute = 'scale-hot';
export const zones = ['z0', 'z1', 'z2'];

export function serviceName(s: number): string {
  return `svc-${s}`;
}

/** Sidecar i's address: 127.0.80.1–250 and 127.0.81.1–250, then the same with the next port. */
export function sidecarAddress(i: number): { address: string; port: number } {
  const slot = i % 500;
  return { address: `127.0.${80 + Math.floor(slot / 250)}.${1 + (slot % 250)}`, port: 20000 + Math.floor(i / 500) };
}

export function buildTopology(sizes: ScaleSizes): ScaleTopology {
  const { sidecars: n, services: s } = sizes;
  const g = Math.max(1, Math.min(s, Math.round(sizes.endpoints / n)));
  const groups = (k: number) => Math.ceil((s - k) / g);
  const nodes: NodeInfo[] = [];
  for (let i = 0; i < n; i++) {
    const labels: Record<string, string> = {};
    // (2k+1)·i spreads the sidecars over each key's groups in a different order per key
    for (let k = 0; k < g; k++) labels[`g${k}`] = String(((2 * k + 1) * i + k) % groups(k));
    const { address, port } = sidecarAddress(i);
    // registered under the Service of its first key, which selects it: no service without a resource
    const service = serviceName(Number(labels.g0) * g);
    nodes.push({
      id: `sim-${i}`, service, namespace: 'default', address, inboundPort: port, outboundPort: 15001, adminPort: 15000,
      app: { address, port: 8080 }, labels, zone: zones[i % zones.length], region: 'r1', version: 'scale',
      egress: egressOf(Number(labels.g0) * g, sizes),
    });
  }
  const docs: string[] = [];
  for (let i = 0; i < s; i++) {
    docs.push(`apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: { name: ${serviceName(i)} }\nspec:\n  ports: [{ port: 8080 }]\n  selector: { g${i % g}: "${Math.floor(i / g)}" }\n`);
  }
  docs.push(hotRouteYaml(0));
  return { sizes, membership: g, nodes, resourcesYaml: docs.join('---\n'), endpointCount: n * g };
}

/** The hot service's HTTPRoute; each change moves its match to `/change-<n>`. */
export function hotRouteYaml(change: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: ${hotRoute} }\nspec:\n  parentRefs: [{ name: ${hotService} }]\n  rules:\n    - matches: [{ path: { type: PathPrefix, value: /change-${change} } }]\n      backendRefs: [{ name: ${hotService} }]\n`;
}

/**
 * The hot service, then egress − 1 others picked pseudo-randomly per registered service: the
 * replicas of a service call the same services, as in a real mesh.
 */
function egressOf(i: number, sizes: ScaleSizes): string[] {
  const picked = new Set([hotService]);
  const want = Math.min(sizes.egress, sizes.services);
  for (let j = 0; picked.size < want; j++) picked.add(serviceName((i * 7919 + j * 104729 + j * j) % sizes.services));
  return [...picked];
}

/** A sidecar that joins the hot service (and leaves again) to change its endpoint set. */
export function joinerNode(topology: ScaleTopology, change: number): NodeInfo {
  const labels: Record<string, string> = {};
  for (let k = 0; k < topology.membership; k++) labels[`g${k}`] = '0';
  return {
    id: `sim-joiner-${change}`, service: hotService, namespace: 'default', address: '127.0.81.251', inboundPort: 30000 + change,
    outboundPort: 15001, adminPort: 15000, app: { address: '127.0.81.251', port: 8080 }, labels, zone: 'z0', region: 'r1',
    version: 'scale', egress: [hotService],
  };
}
