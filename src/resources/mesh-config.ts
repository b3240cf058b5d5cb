import { z } from 'zod';
import { metadataSchema } from './metadata.js';

export const meshConfigSchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('MeshConfig'),
  metadata: metadataSchema,
  spec: z.object({
    trustDomain: z.string().regex(/^[a-z0-9.-]+$/, 'must be a DNS name').default('cluster.local'),
    mtls: z.object({ mode: z.enum(['strict', 'permissive']).default('permissive') }).strict().default({ mode: 'permissive' }),
    accessLog: z.object({ format: z.enum(['json', 'text', 'off']).default('json') }).strict().default({ format: 'json' }),
    tracing: z.object({ samplingRate: z.number().min(0).max(1).default(0) }).strict().default({ samplingRate: 0 }),
    defaultAuthorization: z.enum(['allow', 'deny']).default('allow'),
  }).strict().default({
    trustDomain: 'cluster.local', mtls: { mode: 'permissive' }, accessLog: { format: 'json' },
    tracing: { samplingRate: 0 }, defaultAuthorization: 'allow',
  }),
}).strict();

export type MeshConfig = z.infer<typeof meshConfigSchema>;
