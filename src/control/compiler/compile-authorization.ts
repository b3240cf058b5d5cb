// AuthorizationPolicy → Envoy RBAC HTTP filters for one node's inbound listener (docs/xds.md,
// "Authorization"). A DENY filter holds every DENY rule that applies; an ALLOW filter exists
// when the mesh default is deny or an ALLOW policy applies, and then a request must match one
// of its rules (an ALLOW filter without policies denies everything). No filter: allow all.
import type { AuthorizationPolicy } from '../../resources/authorization-policy.js';
import type { Resource } from '../../resources/kinds.js';
import type { MeshConfig } from '../../resources/mesh-config.js';
import type { NodeInfo } from '../../xds/node.js';
import { rbacFilterName, securityTypeUrls } from '../../xds/security-extensions.js';
import { spiffeId } from '../ca/spiffe-id.js';
import type { MeshService } from './mesh-services.js';
import { packMessage } from './pack.js';
import { compareStrings, type XdsObject } from './xds-object.js';

type Rule = AuthorizationPolicy['spec']['rules'][number];
type Source = NonNullable<Rule['from']>[number];
type Operation = NonNullable<Rule['to']>[number];

export function meshConfigOf(resources: readonly Resource[]): MeshConfig | undefined {
  return resources.find((r): r is MeshConfig => r.kind === 'MeshConfig');
}

export function trustDomainOf(resources: readonly Resource[]): string {
  return meshConfigOf(resources)?.spec.trustDomain ?? 'cluster.local';
}

/** Does the node's instance belong to the service (registered under its name, or its selector matches)? */
export function nodeInService(node: NodeInfo, svc: MeshService): boolean {
  if (svc.namespace !== node.namespace) return false;
  if (!svc.selector) return svc.name === node.service;
  const labels: Record<string, string> = { ...node.labels, app: node.service };
  for (const [k, v] of Object.entries(svc.selector)) if (labels[k] !== v) return false;
  return true;
}

/** The policies the node's inbound side enforces: its namespace's mesh-wide ones and those targeting one of its services. */
export function policiesForNode(resources: readonly Resource[], services: readonly MeshService[], node: NodeInfo): AuthorizationPolicy[] {
  return resources
    .filter((r): r is AuthorizationPolicy => r.kind === 'AuthorizationPolicy')
    .filter((p) => (p.metadata.namespace ?? 'default') === node.namespace)
    .filter((p) => !p.spec.targetRef || services.some((s) => s.name === p.spec.targetRef!.name && nodeInService(node, s)))
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
}

/** `trellis get policies` status: a targeted Service must exist. */
export function authorizationStatus(p: AuthorizationPolicy, services: readonly MeshService[]): Record<string, unknown> {
  const ns = p.metadata.namespace ?? 'default';
  if (p.spec.targetRef && !services.some((s) => s.name === p.spec.targetRef!.name && s.namespace === ns)) {
    return { accepted: false, reason: 'TargetNotFound', message: `Service "${p.spec.targetRef.name}" does not exist in namespace "${ns}" (the policy applies once it does)` };
  }
  return { accepted: true };
}

/** The RBAC filters to put before the router on the node's inbound HttpConnectionManager. */
export function compileAuthorizationFilters(resources: readonly Resource[], services: readonly MeshService[], node: NodeInfo): XdsObject[] {
  const policies = policiesForNode(resources, services, node);
  const td = trustDomainOf(resources);
  const defaultDeny = meshConfigOf(resources)?.spec.defaultAuthorization === 'deny';
  const deny = policies.filter((p) => p.spec.action === 'DENY');
  const allow = policies.filter((p) => p.spec.action === 'ALLOW');
  const filters: XdsObject[] = [];
  if (deny.length) filters.push(rbacFilter('DENY', deny, td));
  if (allow.length || defaultDeny) filters.push(rbacFilter('ALLOW', allow, td));
  return filters;
}

function rbacFilter(action: 'ALLOW' | 'DENY', policies: AuthorizationPolicy[], td: string): XdsObject {
  const map: Record<string, XdsObject> = {};
  for (const p of policies) {
    const ns = p.metadata.namespace ?? 'default';
    p.spec.rules.forEach((rule, i) => {
      map[`${ns}/${p.metadata.name}#${i}`] = {
        principals: rule.from ? rule.from.map((s) => principalOf(s, ns, td)) : [{ any: true }],
        permissions: rule.to ? rule.to.map(permissionOf) : [{ any: true }],
      };
    });
  }
  return { name: rbacFilterName, typed_config: packMessage(securityTypeUrls.rbac, { rules: { action, policies: map } }) };
}

function idExact(id: string): XdsObject {
  return { authenticated: { principal_name: { exact: id } } };
}

function orIds(ids: XdsObject[]): XdsObject {
  return ids.length === 1 ? ids[0] : { or_ids: { ids } };
}

function principalOf(s: Source, policyNs: string, td: string): XdsObject {
  const parts: XdsObject[] = [];
  if (s.identities) parts.push(orIds(s.identities.map(idExact)));
  if (s.services) {
    const namespaces = s.namespaces ?? [policyNs];
    parts.push(orIds(namespaces.flatMap((ns) => s.services!.map((svc) => idExact(spiffeId(td, ns, svc))))));
  } else if (s.namespaces) {
    parts.push(orIds(s.namespaces.map((ns) => ({ authenticated: { principal_name: { prefix: `spiffe://${td}/ns/${ns}/svc/` } } }))));
  }
  return parts.length === 1 ? parts[0] : { and_ids: { ids: parts } };
}

function permissionOf(o: Operation): XdsObject {
  const parts: XdsObject[] = [];
  if (o.paths) {
    const paths = o.paths.map((p) => ({ url_path: { path: p.endsWith('*') ? { prefix: p.slice(0, -1) } : { exact: p } } }));
    parts.push(paths.length === 1 ? paths[0] : { or_rules: { rules: paths } });
  }
  if (o.methods) {
    const methods = o.methods.map((m) => ({ header: { name: ':method', string_match: { exact: m } } }));
    parts.push(methods.length === 1 ? methods[0] : { or_rules: { rules: methods } });
  }
  return parts.length === 1 ? parts[0] : { and_rules: { rules: parts } };
}
