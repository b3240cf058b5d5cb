import { z } from 'zod';
import { metadataSchema, nameSchema } from './metadata.js';

// How calls to a service (or through one HTTPRoute rule) balance, time out, retry, shed load and
// eject failing hosts. Every field is optional: what a policy leaves out keeps the mesh default
// (src/control/compiler/resilience-defaults.ts), so the stored resource is exactly what the user wrote.

export const durationSchema = z.string().regex(/^\d+(ms|s|m|h)$/, 'must be a duration such as 500ms, 10s or 1m');

// zod runs the refinements even when a field failed its own check; such a field is not compared
function validMs(text: string): number {
  return /^\d+(ms|s|m|h)$/.test(text) ? durationMs(text) : Number.NaN;
}

const percentSchema = z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100');
const countSchema = z.number().int('must be a whole number').min(0, 'must not be negative').max(4_294_967_295);
const statusCodeSchema = z.number().int().min(100, 'must be an HTTP status code (100-599)').max(599, 'must be an HTTP status code (100-599)');

// Envoy's HTTP conditions, then its gRPC ones (each names one grpc-status: src/proxy/config/grpc-retry-on.ts)
export const retryOnValues = [
  'connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
] as const;

const targetRefSchema = z.object({
  group: z.string().optional(),
  kind: z.enum(['Service', 'HTTPRoute', 'GRPCRoute'], { message: 'must be Service, HTTPRoute or GRPCRoute' }),
  name: nameSchema,
  /** The name of one route rule (rules[].name); only with kind HTTPRoute or GRPCRoute. */
  sectionName: nameSchema.optional(),
}).strict();

const loadBalancerSchema = z.object({
  type: z.enum(['PeakEWMA', 'LeastRequest', 'RoundRobin'], { message: 'must be PeakEWMA, LeastRequest or RoundRobin' }),
  decayTime: durationSchema.optional(),
  defaultRtt: durationSchema.optional(),
  choiceCount: z.number().int().min(2, 'must be at least 2').max(16, 'must be at most 16').optional(),
}).strict();

const timeoutsSchema = z.object({
  connect: durationSchema.optional(),
  request: durationSchema.optional(),
  perTry: durationSchema.optional(),
  idle: durationSchema.optional(),
}).strict();

const retriesSchema = z.object({
  /** Retries after the first try (as Istio's `attempts`); 0 turns retries off. */
  attempts: z.number().int('must be a whole number').min(0, 'must not be negative').max(10, 'must be at most 10').optional(),
  perTryTimeout: durationSchema.optional(),
  retryOn: z.array(z.enum(retryOnValues, { message: `must be one of ${retryOnValues.join(', ')}` })).min(1).optional(),
  statusCodes: z.array(statusCodeSchema).optional(),
  backoff: z.object({ baseInterval: durationSchema.optional(), maxInterval: durationSchema.optional() }).strict().optional(),
  nonIdempotent: z.boolean().optional(),
  maxBufferBytes: z.number().int().min(0, 'must not be negative').max(16 * 1024 * 1024, 'must be at most 16 MiB').optional(),
}).strict();

const retryBudgetSchema = z.object({
  ratio: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
  minRetriesPerSecond: countSchema.optional(),
  window: durationSchema.optional(),
}).strict();

const circuitBreakerSchema = z.object({
  maxConnections: countSchema.optional(),
  maxPendingRequests: countSchema.optional(),
  maxRequests: countSchema.optional(),
  maxRetries: countSchema.optional(),
}).strict();

const outlierDetectionSchema = z.object({
  enabled: z.boolean().optional(),
  consecutiveFailures: z.number().int().min(1, 'must be at least 1').optional(),
  interval: durationSchema.optional(),
  baseEjectionTime: durationSchema.optional(),
  maxEjectionTime: durationSchema.optional(),
  maxEjectionPercent: z.number().int('must be a whole number').min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').optional(),
  successRate: z.object({
    minimumHosts: countSchema.optional(),
    requestVolume: countSchema.optional(),
    stdevFactor: z.number().positive('must be positive').max(100).optional(),
  }).strict().optional(),
}).strict();

export const h2UpgradePolicySchema = z.enum(['UPGRADE', 'DO_NOT_UPGRADE']);

// Istio's connectionPool.http settings: maxRequestsPerConnection 1 turns keep-alive to the
// service off; h2UpgradePolicy overrides the MeshConfig's for requests to this Service (DEFAULT
// or absent: the mesh's).
const connectionPoolSchema = z.object({
  maxRequestsPerConnection: z.number().int('must be a whole number').min(1, 'must be at least 1 (leave it out for no limit)').max(4_294_967_295).optional(),
  h2UpgradePolicy: z.enum(['DEFAULT', 'UPGRADE', 'DO_NOT_UPGRADE']).optional(),
}).strict();

const faultsSchema = z.object({
  delay: z.object({ percent: percentSchema, duration: durationSchema }).strict().optional(),
  abort: z.object({ percent: percentSchema, httpStatus: statusCodeSchema }).strict().optional(),
}).strict();

// Settings that shape a cluster (its connections and endpoints) can only target a Service;
// faults belong to a route. The rest (request timeout, retries) can target either.
const clusterOnly = ['loadBalancer', 'retryBudget', 'circuitBreaker', 'connectionPool', 'outlierDetection'] as const;

const routeArticle = (kind: string): string => (kind === 'HTTPRoute' ? 'an HTTPRoute' : 'a GRPCRoute');

const specSchema = z.object({
  targetRef: targetRefSchema,
  loadBalancer: loadBalancerSchema.optional(),
  timeouts: timeoutsSchema.optional(),
  retries: retriesSchema.optional(),
  retryBudget: retryBudgetSchema.optional(),
  circuitBreaker: circuitBreakerSchema.optional(),
  connectionPool: connectionPoolSchema.optional(),
  outlierDetection: outlierDetectionSchema.optional(),
  faults: faultsSchema.optional(),
}).strict().superRefine((spec, ctx) => {
  const kind = spec.targetRef.kind;
  if (kind === 'Service') {
    if (spec.targetRef.sectionName) ctx.addIssue({ code: 'custom', path: ['targetRef', 'sectionName'], message: 'sectionName names a route rule; it is only allowed with kind HTTPRoute or GRPCRoute' });
    if (spec.faults) ctx.addIssue({ code: 'custom', path: ['faults'], message: 'faults are route-level: target an HTTPRoute (optionally one rule with sectionName)' });
  } else {
    for (const field of clusterOnly) {
      if (spec[field]) ctx.addIssue({ code: 'custom', path: [field], message: `${field} shapes a cluster: target the Service, not ${routeArticle(kind)}` });
    }
    for (const field of ['connect', 'idle'] as const) {
      if (spec.timeouts?.[field]) ctx.addIssue({ code: 'custom', path: ['timeouts', field], message: `timeouts.${field} applies to a cluster's connections: target the Service, not ${routeArticle(kind)}` });
    }
  }
  const od = spec.outlierDetection;
  if (od?.enabled === false && Object.keys(od).length > 1) {
    ctx.addIssue({ code: 'custom', path: ['outlierDetection'], message: 'with enabled: false no other outlier detection field may be set' });
  }
  const backoff = spec.retries?.backoff;
  if (backoff?.baseInterval && backoff.maxInterval && validMs(backoff.maxInterval) < validMs(backoff.baseInterval)) {
    ctx.addIssue({ code: 'custom', path: ['retries', 'backoff', 'maxInterval'], message: 'must not be shorter than baseInterval' });
  }
  if (od?.baseEjectionTime && od.maxEjectionTime && validMs(od.maxEjectionTime) < validMs(od.baseEjectionTime)) {
    ctx.addIssue({ code: 'custom', path: ['outlierDetection', 'maxEjectionTime'], message: 'must not be shorter than baseEjectionTime' });
  }
  if (spec.retries?.statusCodes?.length && spec.retries.retryOn && !spec.retries.retryOn.includes('retriable-status-codes')) {
    ctx.addIssue({ code: 'custom', path: ['retries', 'statusCodes'], message: 'statusCodes need "retriable-status-codes" in retryOn' });
  }
  // zero would mean "never" for some of these and "at once" for others: refuse it rather than guess
  const positive: [string[], string | undefined][] = [
    [['timeouts', 'connect'], spec.timeouts?.connect], [['timeouts', 'idle'], spec.timeouts?.idle],
    [['loadBalancer', 'decayTime'], spec.loadBalancer?.decayTime], [['retryBudget', 'window'], spec.retryBudget?.window],
    [['outlierDetection', 'interval'], od?.interval], [['outlierDetection', 'baseEjectionTime'], od?.baseEjectionTime],
  ];
  for (const [path, value] of positive) {
    if (value !== undefined && validMs(value) === 0) ctx.addIssue({ code: 'custom', path, message: 'must be longer than 0' });
  }
  if (spec.loadBalancer?.type !== 'PeakEWMA') {
    for (const field of ['decayTime', 'defaultRtt'] as const) {
      if (spec.loadBalancer?.[field]) ctx.addIssue({ code: 'custom', path: ['loadBalancer', field], message: `${field} only applies to type PeakEWMA` });
    }
  }
  if (spec.loadBalancer?.choiceCount !== undefined && spec.loadBalancer.type !== 'LeastRequest') {
    ctx.addIssue({ code: 'custom', path: ['loadBalancer', 'choiceCount'], message: 'choiceCount only applies to type LeastRequest (peak-EWMA always picks the better of two)' });
  }
});

export const resiliencePolicySchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('ResiliencePolicy'),
  metadata: metadataSchema,
  spec: specSchema,
}).strict();

export type ResiliencePolicy = z.infer<typeof resiliencePolicySchema>;
export type ResiliencePolicySpec = ResiliencePolicy['spec'];

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "1m", "2h" → milliseconds; throws on any other form (the schemas check it first). */
export function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1]) * unitMs[m[2]];
}
