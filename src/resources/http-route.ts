import { z } from 'zod';
import { metadataSchema, nameSchema } from './metadata.js';
import { durationMs, durationSchema } from './resilience-policy.js';
import { checkRe2 } from './http-route-regex.js';

// The Gateway API's HTTPRoute in its mesh form: parentRefs name Services (GAMMA).
export const parentRefSchema = z.object({
  group: z.string().optional(),
  // an ExternalService parent routes mesh traffic to that outside service by its host names
  kind: z.enum(['Service', 'ExternalService']).default('Service'),
  name: nameSchema,
  namespace: nameSchema.optional(),
  port: z.number().int().min(1).max(65535).optional(),
}).strict();

// RE2 patterns, checked at apply time so a bad one is refused with its field path instead of
// being NACKed by every sidecar later.
export const re2Schema = z.string().superRefine((v, ctx) => {
  const c = checkRe2(v);
  if (!c.ok) ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${c.error}` });
});

const pathMatchSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('Exact'), value: z.string().startsWith('/', 'must start with "/"') }).strict(),
  z.object({ type: z.literal('PathPrefix'), value: z.string().startsWith('/', 'must start with "/"').default('/') }).strict(),
  z.object({ type: z.literal('RegularExpression'), value: re2Schema }).strict(),
]);

// HTTP header names (RFC 9110 tokens); Gateway API compares them case-insensitively.
export const headerNameSchema = z.string().min(1).max(256).regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, 'must be an HTTP header name');
const headerValueSchema = z.string().max(4096).regex(/^[^\r\n\0]*$/, 'must not contain CR, LF or NUL');

const valueMatchSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('Exact'), name: headerNameSchema, value: headerValueSchema }).strict(),
  z.object({ type: z.literal('RegularExpression'), name: headerNameSchema, value: re2Schema }).strict(),
]);
// Gateway API: type defaults to Exact
export const headerMatchSchema = z.preprocess((v) => (v && typeof v === 'object' && !('type' in v) ? { ...v, type: 'Exact' } : v), valueMatchSchema);

export const httpMethods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

const matchSchema = z.object({
  path: pathMatchSchema.optional(),
  headers: z.array(headerMatchSchema).max(16).optional(),
  queryParams: z.array(headerMatchSchema).max(16).optional(),
  method: z.enum(httpMethods).optional(),
}).strict().superRefine((m, ctx) => {
  for (const [field, list] of [['headers', m.headers], ['queryParams', m.queryParams]] as const) {
    const seen = new Set<string>();
    list?.forEach((h, i) => {
      // Gateway API: only the first match for a name counts; a second one is a mistake to report
      const key = field === 'headers' ? h.name.toLowerCase() : h.name;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [field, i, 'name'], message: `duplicate ${field === 'headers' ? 'header' : 'query parameter'} "${h.name}"` });
      seen.add(key);
    });
  }
});

export const backendRefSchema = z.object({
  group: z.string().optional(),
  kind: z.enum(['Service', 'ExternalService']).default('Service'),
  name: nameSchema,
  namespace: nameSchema.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  // Gateway API: weight 0 keeps the backend listed but sends it nothing.
  weight: z.number().int().min(0).max(1_000_000).default(1),
}).strict();

// ExtensionRef filters travel to the sidecar as typed extensions; a sidecar that does not
// know the extension refuses (NACKs) the whole route configuration instead of ignoring it.
export const extensionRefFilterSchema = z.object({
  type: z.literal('ExtensionRef'),
  extensionRef: z.object({
    group: z.string().min(1),
    kind: z.string().min(1),
    name: nameSchema,
  }).strict(),
}).strict();

const headerPairSchema = z.object({ name: headerNameSchema, value: headerValueSchema }).strict();
export const headerModifierSchema = z.object({
  set: z.array(headerPairSchema).max(16).optional(),
  add: z.array(headerPairSchema).max(16).optional(),
  remove: z.array(headerNameSchema).max(16).optional(),
}).strict();

const pathModifierSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ReplaceFullPath'), replaceFullPath: z.string().startsWith('/', 'must start with "/"') }).strict(),
  z.object({ type: z.literal('ReplacePrefixMatch'), replacePrefixMatch: z.string().startsWith('/', 'must start with "/"') }).strict(),
]);

export const requestMirrorFilterSchema = z.object({
  type: z.literal('RequestMirror'),
  requestMirror: z.object({
    backendRef: z.object({
      group: z.string().optional(),
      kind: z.enum(['Service', 'ExternalService']).default('Service'),
      name: nameSchema,
      namespace: nameSchema.optional(),
      port: z.number().int().min(1).max(65535).optional(),
    }).strict(),
    percent: z.number().int().min(0).max(100).optional(),
    fraction: z.object({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).default(100) }).strict()
      .refine((f) => f.numerator <= f.denominator, 'numerator must not exceed denominator').optional(),
  }).strict().refine((m) => m.percent === undefined || m.fraction === undefined, 'give percent or fraction, not both'),
}).strict();

const hostnameSchema = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS host name');

const filterSchema = z.discriminatedUnion('type', [
  extensionRefFilterSchema,
  z.object({ type: z.literal('RequestHeaderModifier'), requestHeaderModifier: headerModifierSchema }).strict(),
  z.object({ type: z.literal('ResponseHeaderModifier'), responseHeaderModifier: headerModifierSchema }).strict(),
  z.object({
    type: z.literal('RequestRedirect'),
    requestRedirect: z.object({
      scheme: z.enum(['http', 'https']).optional(),
      hostname: hostnameSchema.optional(),
      path: pathModifierSchema.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).default(302),
    }).strict(),
  }).strict(),
  z.object({
    type: z.literal('URLRewrite'),
    urlRewrite: z.object({ hostname: hostnameSchema.optional(), path: pathModifierSchema.optional() }).strict(),
  }).strict(),
  requestMirrorFilterSchema,
]);

export type HTTPRouteFilter = z.infer<typeof filterSchema>;
export type HTTPRouteMatch = z.infer<typeof matchSchema>;

const validDuration = /^\d+(ms|s|m|h)$/;

export const ruleTimeoutsSchema = z.object({
  request: durationSchema.optional(),
  // Gateway API: the timeout of each try to a backend (per-try timeout when retries are on)
  backendRequest: durationSchema.optional(),
}).strict();

/** Gateway API: backendRequest must not exceed request when both are set. */
export function checkRuleTimeouts(t: z.infer<typeof ruleTimeoutsSchema> | undefined, ctx: z.RefinementCtx): void {
  if (t?.request && t.backendRequest && validDuration.test(t.request) && validDuration.test(t.backendRequest)
    && durationMs(t.request) > 0 && durationMs(t.backendRequest) > durationMs(t.request)) {
    ctx.addIssue({ code: 'custom', path: ['timeouts', 'backendRequest'], message: 'must not be longer than timeouts.request' });
  }
}

const ruleSchema = z.object({
  name: nameSchema.optional(),
  matches: z.array(matchSchema).default([{ path: { type: 'PathPrefix', value: '/' } }]),
  filters: z.array(filterSchema).optional(),
  // empty only for a rule that redirects (it forwards nowhere)
  backendRefs: z.array(backendRefSchema).default([]),
  timeouts: ruleTimeoutsSchema.optional(),
  // Gateway API GEP-1731: status codes to retry (connection failures and resets are retried too),
  // how many retries, and the base of the exponential backoff.
  retry: z.object({
    codes: z.array(z.number().int().min(400, 'must be an HTTP error status (400-599)').max(599, 'must be an HTTP error status (400-599)')).optional(),
    attempts: z.number().int('must be a whole number').min(0, 'must not be negative').max(10, 'must be at most 10').optional(),
    backoff: durationSchema.optional(),
  }).strict().optional(),
}).strict().superRefine((rule, ctx) => {
  const filters = rule.filters ?? [];
  const count = (type: HTTPRouteFilter['type']) => filters.filter((f) => f.type === type).length;
  const redirect = filters.findIndex((f) => f.type === 'RequestRedirect');
  // Gateway API: these filters may appear at most once per rule, and a redirect excludes a rewrite
  for (const type of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'] as const) {
    if (count(type) > 1) ctx.addIssue({ code: 'custom', path: ['filters'], message: `${type} may appear at most once per rule` });
  }
  if (redirect >= 0 && count('URLRewrite')) ctx.addIssue({ code: 'custom', path: ['filters', redirect], message: 'RequestRedirect and URLRewrite cannot be used together' });
  if (redirect >= 0 && rule.backendRefs.length) ctx.addIssue({ code: 'custom', path: ['backendRefs'], message: 'a rule with a RequestRedirect forwards nowhere: it must not have backendRefs' });
  if (redirect < 0 && rule.backendRefs.length === 0) ctx.addIssue({ code: 'custom', path: ['backendRefs'], message: 'needs at least one backendRef (or a RequestRedirect filter)' });
  filters.forEach((f, i) => {
    const path = f.type === 'RequestRedirect' ? f.requestRedirect.path : f.type === 'URLRewrite' ? f.urlRewrite.path : undefined;
    if (path?.type !== 'ReplacePrefixMatch') return;
    // Gateway API: ReplacePrefixMatch needs every match of its rule to be a PathPrefix match
    rule.matches.forEach((m, j) => {
      if ((m.path?.type ?? 'PathPrefix') !== 'PathPrefix') {
        ctx.addIssue({ code: 'custom', path: ['filters', i, f.type === 'RequestRedirect' ? 'requestRedirect' : 'urlRewrite', 'path'], message: `ReplacePrefixMatch needs PathPrefix matches, but matches[${j}] is ${m.path!.type}` });
      }
    });
  });
  checkRuleTimeouts(rule.timeouts, ctx);
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
