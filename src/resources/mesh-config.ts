import { z } from 'zod';
import { isIPv4 } from 'node:net';
import { metadataSchema } from './metadata.js';
import { durationMs, durationSchema, h2UpgradePolicySchema } from './resilience-policy.js';

function isServiceCidr(v: string): boolean {
  const m = /^([0-9.]+)\/(\d+)$/.exec(v);
  return m !== null && isIPv4(m[1]) && Number(m[2]) >= 8 && Number(m[2]) <= 30;
}

export const meshConfigSchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('MeshConfig'),
  metadata: metadataSchema,
  spec: z.object({
    trustDomain: z.string().regex(/^[a-z0-9.-]+$/, 'must be a DNS name').default('cluster.local'),
    mtls: z.object({ mode: z.enum(['strict', 'permissive']).default('permissive') }).strict().default({ mode: 'permissive' }),
    // Access logs are opt-in, like Envoy's and Istio's: a busy mesh writes a line per request per hop.
    accessLog: z.object({
      format: z.enum(['json', 'text', 'off']).default('off'),
      /** `errors`: only responses >= 500 and answers the proxy made itself. */
      filter: z.enum(['all', 'errors']).default('all'),
    }).strict().default({ format: 'off', filter: 'all' }),
    tracing: z.object({
      samplingRate: z.number().min(0).max(1).default(0),
      /** OTLP/HTTP collector, `http://host:4318` or `host:port`; spans are exported only with one. */
      collector: z.string().regex(/^(https?:\/\/)?[^\s/]+(\/\S*)?$/, 'must be host:port or an http URL').optional(),
    }).strict().default({ samplingRate: 0 }),
    defaultAuthorization: z.enum(['allow', 'deny']).default('allow'),
    // Where services' virtual IPs (what an intercepted app connects to) are allocated.
    serviceCidr: z.string().refine(isServiceCidr, 'must be an IPv4 CIDR from /8 to /30, such as 10.96.0.0/16').default('10.96.0.0/16'),
    // How long a sidecar waits for a client's first bytes on a port that declares no protocol
    // before it treats the connection as TCP (Istio's protocolDetectionTimeout). Not 0: a port
    // that must not wait is marked `protocol: tcp`; at most 1h (timers overflow past ~24 days).
    protocolDetectionTimeout: durationSchema
      .refine((v) => !/^\d+(ms|s|m|h)$/.test(v) || (durationMs(v) > 0 && durationMs(v) <= 3_600_000), 'must be more than 0 and at most 1h (mark a port protocol: tcp to skip detection)')
      .default('10s'),
    // Whether sidecars carry HTTP/1.1 requests to each other as HTTP/2 streams (Istio's MeshConfig
    // h2UpgradePolicy, same default): DO_NOT_UPGRADE keeps each request in the protocol it came
    // in (HTTP/1.1 on keep-alive connections, h2c and gRPC on HTTP/2 sessions), which costs the
    // sidecar less CPU per request in Node (bench/README.md); UPGRADE multiplexes everything on a
    // few HTTP/2 sessions per peer. A ResiliencePolicy's connectionPool.h2UpgradePolicy overrides it per Service.
    h2UpgradePolicy: h2UpgradePolicySchema.default('DO_NOT_UPGRADE'),
  }).strict().default({
    trustDomain: 'cluster.local', mtls: { mode: 'permissive' }, accessLog: { format: 'off', filter: 'all' },
    tracing: { samplingRate: 0 }, defaultAuthorization: 'allow', serviceCidr: '10.96.0.0/16', protocolDetectionTimeout: '10s', h2UpgradePolicy: 'DO_NOT_UPGRADE',
  }),
}).strict();

export type MeshConfig = z.infer<typeof meshConfigSchema>;
export type H2UpgradePolicy = MeshConfig['spec']['h2UpgradePolicy'];
