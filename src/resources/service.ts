import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { labelsSchema, metadataSchema, nameSchema } from './metadata.js';

// `auto` (what a port without `protocol` gets): the sidecar detects each connection's protocol
// (HTTP/1, h2c, else opaque TCP; docs/protocols.md). `tcp` is also the opaque marking that skips
// detection, for server-speaks-first protocols (MySQL, SMTP).
export const protocolSchema = z.enum(['auto', 'http', 'http2', 'grpc', 'tcp']);
export type Protocol = z.infer<typeof protocolSchema>;

export const servicePortSchema = z.object({
  name: nameSchema.optional(),
  port: z.number().int().min(1).max(65535),
  protocol: protocolSchema.default('auto'),
  /** Where the service's app listens for this port (Kubernetes' targetPort); default: `port`. Used by tcp and auto ports' TCP path. */
  targetPort: z.number().int().min(1).max(65535).optional(),
});

export const serviceSchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('Service'),
  metadata: metadataSchema,
  spec: z.object({
    ports: z.array(servicePortSchema).min(1).default([{ port: 80, protocol: 'auto' }]),
    // Without a selector the Service holds the instances registered under its name;
    // with one, every instance whose labels (plus `app: <registered name>`) match.
    selector: labelsSchema.optional(),
    // The service's virtual IP (intercepted apps connect to it); default: allocated from the
    // MeshConfig's serviceCidr and shown as status.clusterIP.
    clusterIP: z.string().refine((v) => isIPv4(v), 'must be an IPv4 address').optional(),
  }).strict().default({ ports: [{ port: 80, protocol: 'auto' }] }),
}).strict();

export type Service = z.infer<typeof serviceSchema>;
