import type { Resource } from '../../resources/kinds.js';
import type { Service } from '../../resources/service.js';
import type { Instance } from '../registry.js';
import { compareStrings } from './xds-object.js';
import { allocateServiceAddresses, serviceCidr } from './service-addresses.js';

export interface MeshService {
  name: string;
  namespace: string;
  /** `<name>.<namespace>`: the cluster, the EDS name and the virtual host name. */
  key: string;
  selector?: Record<string, string>;
  resource?: Service;
  /** Its virtual IP (service-addresses.ts); absent when the service CIDR is full. */
  address?: string;
  /** Ports an intercepted app may call it on: the Service's, or its members' app ports. */
  ports?: Array<{ port: number; protocol: string }>;
}

export function serviceKey(name: string, namespace: string): string {
  return `${name}.${namespace}`;
}

/** Services that exist: every Service resource, plus every name a sidecar registered under without one. */
export function meshServices(resources: readonly Resource[], instances: readonly Instance[]): MeshService[] {
  const byKey = new Map<string, MeshService>();
  for (const r of resources) {
    if (r.kind !== 'Service') continue;
    const namespace = r.metadata.namespace ?? 'default';
    const key = serviceKey(r.metadata.name, namespace);
    byKey.set(key, { name: r.metadata.name, namespace, key, selector: r.spec.selector, resource: r, ports: r.spec.ports });
  }
  for (const inst of instances) {
    const key = serviceKey(inst.service, inst.namespace);
    let svc = byKey.get(key);
    if (!svc) byKey.set(key, svc = { name: inst.service, namespace: inst.namespace, key, ports: [] });
    if (!svc.resource && inst.app && !svc.ports!.some((p) => p.port === inst.app!.port)) svc.ports!.push({ port: inst.app.port, protocol: 'http' });
  }
  const services = [...byKey.values()].sort((a, b) => compareStrings(a.key, b.key));
  const addresses = allocateServiceAddresses(services.map((s) => ({
    key: s.key,
    pinned: s.resource?.spec.clusterIP,
    createdAt: (s.resource?.metadata as { creationTimestamp?: string } | undefined)?.creationTimestamp,
  })), serviceCidr(resources));
  for (const s of services) s.address = addresses.get(s.key);
  return services;
}

/**
 * The instances a service holds (shared/DESIGN.md §3): without a selector, those registered under
 * its name; with one, those whose labels (which include `app: <registered name>`) match every
 * selector entry. Selectors, as in Kubernetes, only look inside the service's namespace.
 */
export function serviceMembers(svc: MeshService, instances: readonly Instance[]): Instance[] {
  return instances.filter((inst) => {
    if (inst.namespace !== svc.namespace) return false;
    if (!svc.selector) return inst.service === svc.name;
    for (const [k, v] of Object.entries(svc.selector)) if (inst.labels[k] !== v) return false;
    return true;
  });
}
