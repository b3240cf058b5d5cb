import { z } from 'zod';
import { metadataSchema, nameSchema } from './metadata.js';
import { durationSchema } from './resilience-policy.js';
import { checkRe2 } from './http-route-regex.js';
import {
  backendRefSchema, checkRuleTimeouts, extensionRefFilterSchema, headerMatchSchema, headerModifierSchema, parentRefSchema,
  requestMirrorFilterSchema, ruleTimeoutsSchema,
} from './http-route.js';

// The Gateway API's GRPCRoute (gateway.networking.k8s.io/v1) in its mesh form: parentRefs name
// Services, as for HTTPRoute. A gRPC call is an HTTP/2 POST to /<service>/<method>, so the
// compiler turns each match into a path and header match (docs/xds.md, "GRPCRoute").

// Gateway API's own checks of an Exact service and method (the CRD's CEL rules)
const exactService = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const exactMethod = /^[A-Za-z_][A-Za-z_0-9]*$/;

const methodMatchSchema = z.object({
  type: z.enum(['Exact', 'RegularExpression'], { message: 'must be Exact or RegularExpression' }).default('Exact'),
  service: z.string().min(1, 'must not be empty (leave it out to match any service)').max(1024).optional(),
  method: z.string().min(1, 'must not be empty (leave it out to match any method)').max(1024).optional(),
}).strict().superRefine((m, ctx) => {
  if (m.service === undefined && m.method === undefined) {
    ctx.addIssue({ code: 'custom', path: [], message: "one or both of 'service' or 'method' must be specified" });
    return;
  }
  if (m.type === 'Exact') {
    if (m.service !== undefined && !exactService.test(m.service)) {
      ctx.addIssue({ code: 'custom', path: ['service'], message: `must be a gRPC service name such as pkg.v1.Greeter (matching ${exactService.source}, any case)` });
    }
    if (m.method !== undefined && !exactMethod.test(m.method)) {
      ctx.addIssue({ code: 'custom', path: ['method'], message: `must be a gRPC method name such as SayHello (matching ${exactMethod.source})` });
    }
    return;
  }
  let partsOk = true;
  for (const field of ['service', 'method'] as const) {
    const v = m[field];
    if (v === undefined) continue;
    const c = checkRe2(v);
    if (!c.ok) {
      partsOk = false;
      ctx.addIssue({ code: 'custom', path: [field], message: `invalid regular expression: ${c.error}` });
    }
  }
  // both parts become one path pattern; what only fails once joined (inline flags) is named here
  const joined = grpcPathRegex(m.service, m.method);
  const c = checkRe2(joined);
  if (partsOk && !c.ok) ctx.addIssue({ code: 'custom', path: [], message: `service and method make the path pattern ${JSON.stringify(joined)}, which is refused: ${c.error}` });
});

/** `/<service>/<method>` as one RE2 pattern; a missing part matches any name. */
export function grpcPathRegex(service: string | undefined, method: string | undefined): string {
  return `/${service === undefined ? '[^/]+' : `(?:${service})`}/${method === undefined ? '[^/]+' : `(?:${method})`}`;
}

const matchSchema = z.object({
  method: methodMatchSchema.optional(),
  headers: z.array(headerMatchSchema).max(16).optional(),
}).strict().superRefine((m, ctx) => {
  const seen = new Set<string>();
  m.headers?.forEach((h, i) => {
    // Gateway API: header names are a map key, compared case-insensitively
    if (seen.has(h.name.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['headers', i, 'name'], message: `duplicate header "${h.name}"` });
    seen.add(h.name.toLowerCase());
  });
});

const filterSchema = z.discriminatedUnion('type', [
  extensionRefFilterSchema,
  z.object({ type: z.literal('RequestHeaderModifier'), requestHeaderModifier: headerModifierSchema }).strict(),
  z.object({ type: z.literal('ResponseHeaderModifier'), responseHeaderModifier: headerModifierSchema }).strict(),
  requestMirrorFilterSchema,
], { message: 'must be RequestHeaderModifier, ResponseHeaderModifier, RequestMirror or ExtensionRef (the GRPCRoute filters)' });

export type GRPCRouteFilter = z.infer<typeof filterSchema>;
export type GRPCRouteMatch = z.infer<typeof matchSchema>;

/** gRPC status codes a GRPCRoute rule may retry: the ones Envoy's retry_on knows, in gRPC's spelling. */
export const grpcRetryCodes = ['CANCELLED', 'DEADLINE_EXCEEDED', 'INTERNAL', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE'] as const;
export type GrpcRetryCode = (typeof grpcRetryCodes)[number];

const ruleSchema = z.object({
  name: nameSchema.optional(),
  // Gateway API: no matches match every gRPC request
  matches: z.array(matchSchema).max(8).default([{}]),
  filters: z.array(filterSchema).max(16).optional(),
  backendRefs: z.array(backendRefSchema).max(16).min(1, 'needs at least one backendRef'),
  // Trellis extensions where the Gateway API's GRPCRoute has none yet, shaped as HTTPRoute's
  timeouts: ruleTimeoutsSchema.optional(),
  // codes are gRPC statuses (as a gRPC service config's retryableStatusCodes); connection
  // failures and resets are retried too. gRPC calls are POSTs: a rule that asks for retries
  // declares its methods safe to repeat.
  retry: z.object({
    codes: z.array(z.enum(grpcRetryCodes, { message: `must be one of ${grpcRetryCodes.join(', ')}` })).min(1).optional(),
    attempts: z.number().int('must be a whole number').min(0, 'must not be negative').max(10, 'must be at most 10').optional(),
    backoff: durationSchema.optional(),
  }).strict().optional(),
}).strict().superRefine((rule, ctx) => {
  const filters = rule.filters ?? [];
  for (const type of ['RequestHeaderModifier', 'ResponseHeaderModifier'] as const) {
    if (filters.filter((f) => f.type === type).length > 1) ctx.addIssue({ code: 'custom', path: ['filters'], message: `${type} filter cannot be repeated` });
  }
  checkRuleTimeouts(rule.timeouts, ctx);
});

// Gateway API Hostname: RFC 1123, optionally one leading "*." label, not an IP address
const hostnameSchema = z.string().min(1).max(253)
  .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS host name, optionally with a leading "*." label')
  .refine((h) => !/^\d+(\.\d+){3}$/.test(h), 'must be a host name, not an IP address');

export const grpcRouteSchema = z.object({
  apiVersion: z.literal('gateway.networking.k8s.io/v1'),
  kind: z.literal('GRPCRoute'),
  metadata: metadataSchema,
  spec: z.object({
    parentRefs: z.array(parentRefSchema).min(1).max(32),
    hostnames: z.array(hostnameSchema).max(16).optional(),
    rules: z.array(ruleSchema).min(1).max(16),
  }).strict().superRefine((spec, ctx) => {
    const names = new Map<string, number>();
    spec.rules.forEach((r, i) => {
      if (r.name === undefined) return;
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name must be unique within the route (rules[${names.get(r.name)}] has it)` });
      else names.set(r.name, i);
    });
  }),
}).strict();

export type GRPCRoute = z.infer<typeof grpcRouteSchema>;
export type GRPCRouteRule = GRPCRoute['spec']['rules'][number];
