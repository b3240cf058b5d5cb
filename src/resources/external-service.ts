import { isIP } from 'node:net';
import { z } from 'zod';
import { metadataSchema } from './metadata.js';
import { protocolSchema } from './service.js';
import { durationMs, durationSchema } from './resilience-policy.js';

// A service outside the mesh (Istio's ServiceEntry, reduced): the host names mesh apps call it
// by, the addresses it lives at and its ports. The control plane compiles each port into a
// cluster and the host names into virtual hosts, so calls to it get the mesh's routes, timeouts,
// retries and metrics. Addresses are IP literals (a STATIC cluster) or DNS host names, which the
// sidecar resolves itself and keeps resolving (Envoy's STRICT_DNS: every address a name has is
// an endpoint; a failed lookup keeps the last good set).

const dnsNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/;

const hostSchema = z.string().min(1).max(253)
  .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS host name (lower case), optionally starting with "*."');

/** Whether an address is a host name to resolve (not an IP literal). */
export function isDnsAddress(address: string): boolean {
  return isIP(address) === 0;
}

const addressSchema = z.string().min(1).max(253)
  .refine((a) => isIP(a) !== 0 || dnsNamePattern.test(a), 'must be an IP address or a DNS host name (lower case)');

const portSchema = z.object({
  name: z.string().optional(),
  port: z.number().int().min(1).max(65535),
  // auto is a Service's (detection): an ExternalService is routed by host name
  protocol: protocolSchema.exclude(['auto']).default('http'),
}).strict();

export const externalServiceSchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('ExternalService'),
  metadata: metadataSchema,
  spec: z.object({
    /** Host names (the Host header, without port for the first port, `name:port` for each) that mesh traffic uses for this service. */
    hosts: z.array(hostSchema).min(1).max(32),
    /** IP addresses or DNS host names of the service's instances. */
    addresses: z.array(addressSchema).min(1).max(64),
    /** The first is the default (a Host without port); the others are reached as `host:port`. */
    ports: z.array(portSchema).min(1).max(16)
      .superRefine((ports, ctx) => {
        const seen = new Set<number>();
        for (const [i, p] of ports.entries()) {
          if (seen.has(p.port)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'port'], message: `port ${p.port} is listed twice` });
          seen.add(p.port);
        }
      })
      .default([{ port: 80, protocol: 'http' }]),
    /** How often the sidecar resolves host-name addresses again (Envoy's dns_refresh_rate). */
    dnsRefreshInterval: durationSchema.refine((d) => !durationSchema.safeParse(d).success || durationMs(d) >= 1000, 'must be at least 1s').optional(),
  }).strict(),
}).strict();

export type ExternalService = z.infer<typeof externalServiceSchema>;
