import type { AuthorizationPolicy } from '../../resources/authorization-policy.js';
import type { ExternalService } from '../../resources/external-service.js';
import type { H2UpgradePolicy } from '../../resources/mesh-config.js';
import type { Instance } from '../registry.js';
import { meshConfigOf } from './compile-authorization.js';
import type { MeshState } from './compile-snapshot.js';
import { compileHcmTelemetry } from './compile-telemetry.js';
import { DEFAULT_DETECTION_TIMEOUT_MS } from './compile-detect.js';
import { durationMs } from '../../resources/resilience-policy.js';
import { CompileCache, digestKey } from './compile-cache.js';
import { externalAsService } from './compile-external-services.js';
import { routesByParent } from './compile-routes.js';
import { meshServices, serviceKey, type MeshService } from './mesh-services.js';
import { indexPolicies, routeKey, type PolicyIndex } from './resilience-policies.js';
import { externalServices, type MeshRoute } from './route-status.js';
import type { XdsObject } from './xds-object.js';

/**
 * What every proxy's snapshot is compiled from, worked out once per refresh pass rather than once
 * per proxy: the services and their members, the policies and routes in force, plus fingerprints
 * of each service's inputs that key the shared compile cache.
 */
export interface MeshIndex {
  readonly state: MeshState;
  readonly services: readonly MeshService[];
  readonly byKey: ReadonlyMap<string, MeshService>;
  readonly externals: readonly ExternalService[];
  readonly externalByKey: ReadonlyMap<string, ExternalService>;
  readonly policies: PolicyIndex;
  /** Accepted HTTPRoutes and GRPCRoutes by parent service key. */
  readonly attached: ReadonlyMap<string, MeshRoute[]>;
  readonly telemetry: XdsObject;
  /** MeshConfig protocolDetectionTimeout: the detecting listeners' listener_filters_timeout. */
  readonly detectionTimeoutMs: number;
  /** MeshConfig h2UpgradePolicy: how HTTP/1.1 requests travel between sidecars (compile-upstream-protocol.ts). */
  readonly h2UpgradePolicy: H2UpgradePolicy;
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly cache: CompileCache;
  readonly certified: ReadonlySet<string>;
  members(svc: MeshService): Instance[];
  /** Fingerprint of what a service's endpoints (and their mTLS marks) are made of. */
  membersPrint(svc: MeshService): string;
  /** Fingerprint of what a service's routes are made of: its routes and the policies on it and them. */
  routesPrint(key: string): string;
  /** Fingerprint of the mesh-wide settings every listener carries (MeshConfig). */
  readonly meshPrint: string;
  /** What proxies with the same view share within this pass (compile-snapshot.ts), by view key. */
  readonly views: Map<string, unknown>;
}

export function indexMesh(state: MeshState, cache = new CompileCache()): MeshIndex {
  const { resources, instances } = state;
  const services = meshServices(resources, instances);
  const byKey = new Map(services.map((s) => [s.key, s]));
  const externals = externalServices(resources, services);
  const externalByKey = new Map(externals.map((e) => [externalAsService(e).key, e]));
  const policies = indexPolicies(resources, services);
  const attached = routesByParent(resources, services);
  const certified = state.certified ?? new Set<string>();
  // members by registered name first, so services without a selector need no scan
  const registered = new Map<string, Instance[]>();
  for (const inst of instances) {
    const key = serviceKey(inst.service, inst.namespace);
    const list = registered.get(key);
    if (list) list.push(inst);
    else registered.set(key, [inst]);
  }
  const memberCache = new Map<string, Instance[]>();
  const members = (svc: MeshService): Instance[] => {
    let list = memberCache.get(svc.key);
    if (list) return list;
    const selector = svc.selector;
    if (!selector) list = registered.get(svc.key) ?? [];
    else {
      const entries = Object.entries(selector);
      list = instances.filter((inst) => inst.namespace === svc.namespace && entries.every(([k, v]) => inst.labels[k] === v));
    }
    memberCache.set(svc.key, list);
    return list;
  };
  const prints = new Map<string, string>();
  const print = (key: string, make: () => string): string => {
    let p = prints.get(key);
    if (p === undefined) {
      p = digestKey(make());
      prints.set(key, p);
    }
    return p;
  };
  const meshConfig = meshConfigOf(resources);
  return {
    state, services, byKey, externals, externalByKey, policies, attached, certified, cache,
    telemetry: compileHcmTelemetry(resources),
    // a MeshConfig stored before the field existed has none
    detectionTimeoutMs: meshConfig?.spec.protocolDetectionTimeout ? durationMs(meshConfig.spec.protocolDetectionTimeout) : DEFAULT_DETECTION_TIMEOUT_MS,
    h2UpgradePolicy: meshConfig?.spec.h2UpgradePolicy ?? 'DO_NOT_UPGRADE',
    authorizationPolicies: resources.filter((r): r is AuthorizationPolicy => r.kind === 'AuthorizationPolicy'),
    members,
    membersPrint: (svc) => print(`m\0${svc.key}`, () => JSON.stringify(members(svc).map((i) => [
      i.proxyId, i.service, i.namespace, i.address, i.inboundPort, i.app ? 1 : 0, i.region, i.zone, i.state, i.labels, certified.has(i.proxyId),
    ]))),
    routesPrint: (key) => print(`r\0${key}`, () => {
      const routes = attached.get(key) ?? [];
      const routePolicies = routes.map((r) => {
        const prefix = routeKey(r.metadata.namespace ?? 'default', r.metadata.name, undefined, r.kind);
        return [...policies.routes].filter(([k]) => k === prefix || k.startsWith(`${prefix}/`));
      });
      return JSON.stringify([policies.services.get(key) ?? null, routes, routePolicies]);
    }),
    meshPrint: digestKey(JSON.stringify(meshConfig ?? null)),
    views: new Map(),
  };
}
