import type { z } from 'zod';
import { authorizationPolicySchema, type AuthorizationPolicy } from './authorization-policy.js';
import { externalServiceSchema, type ExternalService } from './external-service.js';
import { grpcRouteSchema, type GRPCRoute } from './grpc-route.js';
import { httpRouteSchema, type HTTPRoute } from './http-route.js';
import { meshConfigSchema, type MeshConfig } from './mesh-config.js';
import { resiliencePolicySchema, type ResiliencePolicy } from './resilience-policy.js';
import { serviceSchema, type Service } from './service.js';

export type Resource = Service | HTTPRoute | GRPCRoute | MeshConfig | ResiliencePolicy | ExternalService | AuthorizationPolicy;
export type Kind = Resource['kind'];

// One entry per kind: the schema, the apiVersion it lives under, and the names a user may type.
export const kinds: Record<Kind, { apiVersion: string; schema: z.ZodType<Resource>; aliases: string[] }> = {
  Service: { apiVersion: 'trellis.dev/v1alpha1', schema: serviceSchema as z.ZodType<Resource>, aliases: ['service', 'services', 'svc'] },
  HTTPRoute: { apiVersion: 'gateway.networking.k8s.io/v1', schema: httpRouteSchema as z.ZodType<Resource>, aliases: ['httproute', 'httproutes', 'route', 'routes'] },
  GRPCRoute: { apiVersion: 'gateway.networking.k8s.io/v1', schema: grpcRouteSchema as z.ZodType<Resource>, aliases: ['grpcroute', 'grpcroutes'] },
  ResiliencePolicy: { apiVersion: 'trellis.dev/v1alpha1', schema: resiliencePolicySchema as z.ZodType<Resource>, aliases: ['resiliencepolicy', 'resiliencepolicies', 'rp'] },
  ExternalService: { apiVersion: 'trellis.dev/v1alpha1', schema: externalServiceSchema as z.ZodType<Resource>, aliases: ['externalservice', 'externalservices', 'ext'] },
  AuthorizationPolicy: { apiVersion: 'trellis.dev/v1alpha1', schema: authorizationPolicySchema as z.ZodType<Resource>, aliases: ['authorizationpolicy', 'authorizationpolicies', 'authz'] },
  MeshConfig: { apiVersion: 'trellis.dev/v1alpha1', schema: meshConfigSchema as z.ZodType<Resource>, aliases: ['meshconfig', 'meshconfigs', 'mesh'] },
};

export function kindFromAlias(alias: string): Kind | undefined {
  const lower = alias.toLowerCase();
  for (const [kind, info] of Object.entries(kinds) as [Kind, (typeof kinds)[Kind]][]) {
    if (kind.toLowerCase() === lower || info.aliases.includes(lower)) return kind;
  }
  return undefined;
}

/** Stable key of a resource in the store: Kind/namespace/name. */
export function resourceKey(r: { kind: string; metadata: { namespace?: string; name: string } }): string {
  return `${r.kind}/${r.metadata.namespace ?? 'default'}/${r.metadata.name}`;
}
