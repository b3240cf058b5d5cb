import { z } from 'zod';
import { metadataSchema, nameSchema } from './metadata.js';

// Who may call a service (shared/DESIGN.md §5): rules that ALLOW or DENY by the caller's verified
// SPIFFE id (exact, or every service of a namespace), and by path and method. DENY wins over
// ALLOW; MeshConfig.defaultAuthorization decides what no policy covers.

const spiffeIdSchema = z.string().regex(/^spiffe:\/\/[a-z0-9.-]+\/ns\/[^/]+\/svc\/[^/]+$/, 'must be a SPIFFE id spiffe://<trust-domain>/ns/<namespace>/svc/<service>');
const pathSchema = z.string().regex(/^\/[^*?#]*\*?$/, 'must be an exact path ("/api/items") or a prefix ending in * ("/api/*")');
const methodSchema = z.string().regex(/^[A-Z]+$/, 'must be an HTTP method in capitals (GET, POST, ...)');

const sourceSchema = z.object({
  identities: z.array(spiffeIdSchema).min(1, 'must not be empty').optional(),
  namespaces: z.array(nameSchema).min(1, 'must not be empty').optional(),
  /** Service names, in `namespaces` when given, else in the policy's namespace. */
  services: z.array(nameSchema).min(1, 'must not be empty').optional(),
}).strict().refine((s) => s.identities || s.namespaces || s.services, { message: 'needs identities, namespaces or services' });

const operationSchema = z.object({
  paths: z.array(pathSchema).min(1, 'must not be empty').optional(),
  methods: z.array(methodSchema).min(1, 'must not be empty').optional(),
}).strict().refine((o) => o.paths || o.methods, { message: 'needs paths or methods' });

const ruleSchema = z.object({
  /** Absent: any caller, plaintext ones included. */
  from: z.array(sourceSchema).min(1, 'must not be empty').optional(),
  /** Absent: any path and method. */
  to: z.array(operationSchema).min(1, 'must not be empty').optional(),
}).strict();

export const authorizationPolicySchema = z.object({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('AuthorizationPolicy'),
  metadata: metadataSchema,
  spec: z.object({
    /** The Service whose instances enforce the policy; absent: every service of the namespace. */
    targetRef: z.object({
      group: z.string().optional(),
      kind: z.literal('Service', { message: 'must be Service' }),
      name: nameSchema,
    }).strict().optional(),
    action: z.enum(['ALLOW', 'DENY'], { message: 'must be ALLOW or DENY' }),
    /** A request matches the policy when it matches one rule. An empty list matches nothing. */
    rules: z.array(ruleSchema),
  }).strict(),
}).strict();

export type AuthorizationPolicy = z.infer<typeof authorizationPolicySchema>;
