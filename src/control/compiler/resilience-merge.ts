// Policies over defaults: the typed values a sidecar must end up with for one cluster or one route.
import type { GRPCRouteRule } from '../../resources/grpc-route.js';
import type { HTTPRouteRule } from '../../resources/http-route.js';
import { durationMs, type ResiliencePolicy } from '../../resources/resilience-policy.js';
import type { GrpcRetryOn, LbPolicy, RetryOn, RetryPolicy } from '../../proxy/config/proxy-config.js';
import { grpcStatusesOf } from '../../proxy/config/grpc-retry-on.js';
import {
  defaultClusterResilience, defaultLeastRequestChoices, defaultOutlierDetection, defaultPeakEwma, defaultRouteResilience, defaultSuccessRate,
  type ClusterResilience, type RouteResilience,
} from './resilience-defaults.js';

// faults travel as parts per million (docs/xds.md): the typed value is what the sidecar can receive
const perMillionStep = (percent: number): number => Math.round(percent * 10_000) / 10_000;

const ms = (d: string | undefined, fallback: number): number => (d === undefined ? fallback : durationMs(d));

/** A cluster's settings: the defaults, overridden field by field by the policy that targets its Service. */
export function clusterResilience(policy: ResiliencePolicy | undefined): ClusterResilience {
  const out = defaultClusterResilience();
  if (!policy) return out;
  const s = policy.spec;
  if (s.loadBalancer) out.lbPolicy = lbPolicy(s.loadBalancer);
  out.connectTimeoutMs = ms(s.timeouts?.connect, out.connectTimeoutMs);
  out.idleTimeoutMs = ms(s.timeouts?.idle, out.idleTimeoutMs);
  if (s.connectionPool?.maxRequestsPerConnection !== undefined) out.maxRequestsPerConnection = s.connectionPool.maxRequestsPerConnection;
  const upgrade = s.connectionPool?.h2UpgradePolicy;
  if (upgrade !== undefined && upgrade !== 'DEFAULT') out.h2UpgradePolicy = upgrade;
  if (s.circuitBreaker) out.circuitBreakers = { ...out.circuitBreakers, ...s.circuitBreaker };
  if (s.retryBudget) {
    out.retryBudget = {
      ratio: s.retryBudget.ratio ?? out.retryBudget.ratio,
      minRetriesPerSecond: s.retryBudget.minRetriesPerSecond ?? out.retryBudget.minRetriesPerSecond,
      windowMs: ms(s.retryBudget.window, out.retryBudget.windowMs),
    };
  }
  const od = s.outlierDetection;
  if (od?.enabled === false) {
    delete out.outlierDetection;
  } else if (od) {
    const base = defaultOutlierDetection;
    out.outlierDetection = {
      consecutiveFailures: od.consecutiveFailures ?? base.consecutiveFailures,
      intervalMs: ms(od.interval, base.intervalMs),
      baseEjectionMs: ms(od.baseEjectionTime, base.baseEjectionMs),
      maxEjectionMs: ms(od.maxEjectionTime, base.maxEjectionMs),
      maxEjectionPercent: od.maxEjectionPercent ?? base.maxEjectionPercent,
    };
    // only the base given: the cap grows with it, as in Envoy where the cap is at least the base
    out.outlierDetection.maxEjectionMs = Math.max(out.outlierDetection.maxEjectionMs, out.outlierDetection.baseEjectionMs);
    if (od.successRate) out.outlierDetection.successRate = { ...defaultSuccessRate, ...od.successRate };
  }
  return out;
}

function lbPolicy(lb: NonNullable<ResiliencePolicy['spec']['loadBalancer']>): LbPolicy {
  switch (lb.type) {
    case 'RoundRobin': return { kind: 'round-robin' };
    case 'LeastRequest': return { kind: 'least-request', choiceCount: lb.choiceCount ?? defaultLeastRequestChoices };
    case 'PeakEWMA': {
      const d = defaultPeakEwma as Extract<LbPolicy, { kind: 'peak-ewma' }>;
      return { kind: 'peak-ewma', decayMs: ms(lb.decayTime, d.decayMs), defaultRttMs: ms(lb.defaultRtt, d.defaultRttMs) };
    }
  }
}

/** A rule's own resilience fields, by the kind of its route (a GRPCRoute retries gRPC statuses). */
export type RuleResilienceFields =
  | { kind: 'HTTPRoute'; rule: Pick<HTTPRouteRule, 'timeouts' | 'retry'> }
  | { kind: 'GRPCRoute'; rule: Pick<GRPCRouteRule, 'timeouts' | 'retry'> };

/**
 * A route's settings, from the least to the most specific: defaults, the policy of the Service
 * the client called (the route's parent), a policy on the whole route, a policy on the rule
 * (sectionName), and last the rule's own fields (an HTTPRoute rule may be given bare).
 */
export function routeResilience(policies: readonly (ResiliencePolicy | undefined)[], ruleOrFields?: HTTPRouteRule | RuleResilienceFields): RouteResilience {
  const fields: RuleResilienceFields | undefined = ruleOrFields === undefined ? undefined
    : 'kind' in ruleOrFields ? ruleOrFields : { kind: 'HTTPRoute', rule: ruleOrFields };
  const rule = fields?.rule;
  const out = defaultRouteResilience();
  let retry: RetryPolicy = out.retry!;
  for (const p of policies) {
    if (!p) continue;
    const s = p.spec;
    out.timeoutMs = ms(s.timeouts?.request, out.timeoutMs);
    retry = { ...retry, perTryTimeoutMs: ms(s.timeouts?.perTry, retry.perTryTimeoutMs) };
    const r = s.retries;
    if (r) {
      retry = {
        ...retry,
        maxRetries: r.attempts ?? retry.maxRetries,
        perTryTimeoutMs: ms(r.perTryTimeout, retry.perTryTimeoutMs),
        retryOn: r.retryOn ? [...new Set(r.retryOn)] : retry.retryOn,
        retriableStatusCodes: r.statusCodes ?? retry.retriableStatusCodes,
        nonIdempotent: r.nonIdempotent ?? retry.nonIdempotent,
        maxBufferBytes: r.maxBufferBytes ?? retry.maxBufferBytes,
      };
      if (r.backoff?.baseInterval !== undefined) {
        retry.backoffBaseMs = durationMs(r.backoff.baseInterval);
        if (r.backoff.maxInterval === undefined) retry.backoffMaxMs = retry.backoffBaseMs * 10;
      }
      if (r.backoff?.maxInterval !== undefined) retry.backoffMaxMs = durationMs(r.backoff.maxInterval);
    }
    if (s.faults) {
      out.fault = { ...out.fault };
      if (s.faults.delay) out.fault.delay = { percent: perMillionStep(s.faults.delay.percent), delayMs: durationMs(s.faults.delay.duration) };
      if (s.faults.abort) out.fault.abort = { percent: perMillionStep(s.faults.abort.percent), httpStatus: s.faults.abort.httpStatus };
    }
  }
  if (rule?.timeouts?.request) out.timeoutMs = durationMs(rule.timeouts.request);
  if (rule?.timeouts?.backendRequest) retry.perTryTimeoutMs = durationMs(rule.timeouts.backendRequest);
  if (fields?.kind === 'GRPCRoute' && fields.rule.retry) {
    const codes = fields.rule.retry.codes;
    // gRPC calls are POSTs: retries on a GRPCRoute rule declare its methods safe to repeat
    retry = { ...retry, nonIdempotent: true };
    if (codes) retry = { ...retry, retryOn: [...new Set<RetryOn>(['connect-failure', 'reset', ...codes.map(grpcRetryOn)])], retriableStatusCodes: [] };
  } else if (fields?.kind === 'HTTPRoute' && fields.rule.retry?.codes) {
    retry = { ...retry, retryOn: ['connect-failure', 'reset', 'retriable-status-codes'], retriableStatusCodes: fields.rule.retry.codes };
  }
  if (rule?.retry) {
    const g = rule.retry;
    if (g.attempts !== undefined) retry.maxRetries = g.attempts;
    if (g.backoff !== undefined) {
      retry.backoffBaseMs = durationMs(g.backoff);
      retry.backoffMaxMs = retry.backoffBaseMs * 10;
    }
  }
  retry.backoffMaxMs = Math.max(retry.backoffMaxMs, retry.backoffBaseMs);
  // codes only mean something with retriable-status-codes; keep the typed config free of dead values
  if (!retry.retryOn.includes('retriable-status-codes')) retry.retriableStatusCodes = [];
  retry.retriableStatusCodes = [...new Set(retry.retriableStatusCodes)].sort((a, b) => a - b);
  // the typed value the sidecar decodes from retry_on's gRPC conditions (the compiled config equals the decoded one)
  const grpcStatuses = grpcStatusesOf(retry.retryOn);
  if (grpcStatuses.length) retry.retryOnGrpcStatus = grpcStatuses;
  else delete retry.retryOnGrpcStatus;
  // a per-try timeout still bounds the one try when retries are off, so such a policy is kept
  out.retry = retry.maxRetries === 0 && retry.perTryTimeoutMs === 0 ? undefined : retry;
  return out;
}

/** UNAVAILABLE → unavailable, DEADLINE_EXCEEDED → deadline-exceeded: gRPC's spelling to Envoy's. */
function grpcRetryOn(code: NonNullable<NonNullable<GRPCRouteRule['retry']>['codes']>[number]): GrpcRetryOn {
  return code.toLowerCase().replace(/_/g, '-') as GrpcRetryOn;
}
