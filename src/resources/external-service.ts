import { isIP } from 'node:net';
import { z } from 'zod';
import { metadataSchema } from './metadata.js';
import { protocolSchema } from './service.js';

// A service outside the mesh (Istio's ServiceEntry, reduced): the host names mesh apps call it
// by, and the addresses it lives at. The control plane compiles it into a STATIC cluster (one
// endpoint per address and port) and a virtual host for its host names, so calls to it get the
// mesh's routes, timeouts, retries and metrics. Addresses must be IP literals: the sidecar does
// not resolve DNS for clusters, and a STATIC cluster in Envoy holds IPs only.

const hostSchema = z.string().min(1).max(253)
  .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS host name (lower case), optionally starting with "*."');

export const externalServiceSchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('ExternalService'),
  metadata: metadataSchema,
  spec: z.object({
    /** Host names (the Host header, without port) that mesh traffic uses for this service. */
    hosts: z.array(hostSchema).min(1).max(32),
    /** IP addresses of the service's instances. */
    addresses: z.array(z.string().refine((a) => isIP(a) !== 0, 'must be an IP address (host names are not resolved)')).min(1).max(64),
    ports: z.array(z.object({
      name: z.string().optional(),
      port: z.number().int().min(1).max(65535),
      protocol: protocolSchema.default('http'),
    }).strict()).min(1).max(1, 'one port for now: the sidecar routes by host name only')
      .default([{ port: 80, protocol: 'http' }]),
  }).strict(),
}).strict();

export type ExternalService = z.infer<typeof externalServiceSchema>;
