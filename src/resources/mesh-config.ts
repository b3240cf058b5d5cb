import { z } from 'zod';
import { metadataSchema } from './metadata.js';

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
  }).strict().default({
    trustDomain: 'cluster.local', mtls: { mode: 'permissive' }, accessLog: { format: 'off', filter: 'all' },
    tracing: { samplingRate: 0 }, defaultAuthorization: 'allow',
  }),
}).strict();

export type MeshConfig = z.infer<typeof meshConfigSchema>;
