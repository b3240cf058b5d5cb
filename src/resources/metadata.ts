import { z } from 'zod';

// DNS-1123 label, as Kubernetes requires for Service names.
export const nameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower-case letters, digits and "-")');

export const labelsSchema = z.record(z.string().min(1), z.string());

export const metadataSchema = z.object({
  name: nameSchema,
  namespace: nameSchema.default('default'),
  labels: labelsSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type Metadata = z.infer<typeof metadataSchema>;
