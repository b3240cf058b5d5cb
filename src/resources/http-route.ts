import { z } from 'zod';
import { metadataSchema, nameSchema } from './metadata.js';
import { durationMs, durationSchema } from './resilience-policy.js';

// The Gateway API's HTTPRoute in its mesh form: parentRefs name Services (GAMMA).
const parentRefSchema = z.object({
  group: z.string().optional(),
  kind: z.literal('Service').default('Service'),
  name: nameSchema,
  namespace: nameSchema.optional(),
  port: z.number().int().min(1).max(65535).optional(),
}).strict();

const pathMatchSchema = z.object({
  type: z.enum(['Exact', 'PathPrefix']).default('PathPrefix'),
  value: z.string().startsWith('/', 'must start with "/"').default('/'),
}).strict();

const matchSchema = z.object({
  path: pathMatchSchema.optional(),
}).strict();

const backendRefSchema = z.object({
  group: z.string().optional(),
  kind: z.literal('Service').default('Service'),
  name: nameSchema,
  namespace: nameSchema.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  // Gateway API: weight 0 keeps the backend listed but sends it nothing.
  weight: z.number().int().min(0).max(1_000_000).default(1),
}).strict();

// ExtensionRef filters travel to the sidecar as typed extensions; a sidecar that does not
// know the extension refuses (NACKs) the whole route configuration instead of ignoring it.
const filterSchema = z.object({
  type: z.literal('ExtensionRef'),
  extensionRef: z.object({
    group: z.string().min(1),
    kind: z.string().min(1),
    name: nameSchema,
  }).strict(),
}).strict();

const validDuration = /^\d+(ms|s|m|h)$/;

const ruleSchema = z.object({
  name: nameSchema.optional(),
  matches: z.array(matchSchema).default([{ path: { type: 'PathPrefix', value: '/' } }]),
  filters: z.array(filterSchema).optional(),
  backendRefs: z.array(backendRefSchema).min(1),
  timeouts: z.object({
    request: durationSchema.optional(),
    // Gateway API: the timeout of each try to a backend (per-try timeout when retries are on)
    backendRequest: durationSchema.optional(),
  }).strict().optional(),
  // Gateway API GEP-1731: status codes to retry (connection failures and resets are retried too),
  // how many retries, and the base of the exponential backoff.
  retry: z.object({
    codes: z.array(z.number().int().min(400, 'must be an HTTP error status (400-599)').max(599, 'must be an HTTP error status (400-599)')).optional(),
    attempts: z.number().int('must be a whole number').min(0, 'must not be negative').max(10, 'must be at most 10').optional(),
    backoff: durationSchema.optional(),
  }).strict().optional(),
}).strict().superRefine((rule, ctx) => {
  const t = rule.timeouts;
  // Gateway API: backendRequest must not exceed request when both are set
  if (t?.request && t.backendRequest && validDuration.test(t.request) && validDuration.test(t.backendRequest)
    && durationMs(t.request) > 0 && durationMs(t.backendRequest) > durationMs(t.request)) {
    ctx.addIssue({ code: 'custom', path: ['timeouts', 'backendRequest'], message: 'must not be longer than timeouts.request' });
  }
});

export const httpRouteSchema = z.object({
  apiVersion: z.literal('gateway.networking.k8s.io/v1'),
  kind: z.literal('HTTPRoute'),
  metadata: metadataSchema,
  spec: z.object({
    parentRefs: z.array(parentRefSchema).min(1),
    hostnames: z.array(z.string()).optional(),
    rules: z.array(ruleSchema).min(1),
  }).strict(),
}).strict();

export type HTTPRoute = z.infer<typeof httpRouteSchema>;
export type HTTPRouteRule = HTTPRoute['spec']['rules'][number];
