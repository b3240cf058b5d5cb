// API routes of workload identity: certificates for sidecars (authorized by a join token or the
// current certificate, see WorkloadIssuer), join tokens (`trellis token`), and the trust bundle.
import type { IncomingMessage } from 'node:http';
import type { JoinTokenStore } from '../auth/join-token-store.js';
import type { CertificateAuthority } from '../ca/ca-authority.js';
import type { WorkloadIssuer } from '../ca/workload-issuer.js';
import { bearerToken } from '../auth/token-secret.js';
import { readBody } from './read-body.js';

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>;

export interface IdentityApi { ca: CertificateAuthority; tokens: JoinTokenStore; issuer: WorkloadIssuer }

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const defaultJoinTokenTtlMs = 24 * 3_600_000;
const maxJoinTokenTtlMs = 365 * 24 * 3_600_000;

export function identityRoutes(identity: IdentityApi | undefined): { pattern: RegExp; methods: Partial<Record<string, Handler>> }[] {
  if (!identity) {
    const unavailable = async (): Promise<[number, unknown]> => [503, { error: 'this control plane runs without a certificate authority' }];
    return [{ pattern: /^\/api\/v1\/(certificates|tokens(\/[^/]+)?|trust-bundle(\/[^/]+)?)$/, methods: { GET: unavailable, POST: unavailable, DELETE: unavailable } }];
  }
  const { ca, tokens, issuer } = identity;
  return [
    {
      pattern: /^\/api\/v1\/certificates$/,
      methods: {
        GET: async () => [200, issuer.issued()],
        POST: async (req) => {
          const body = await jsonBody(req);
          if (!body.ok) return [400, { error: body.error }];
          const out = await issuer.request(body.value, bearerToken(req.headers.authorization));
          return out.status === 200 ? [200, out.body] : [out.status, { error: out.error }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/tokens$/,
      methods: {
        GET: async () => [200, tokens.list()],
        POST: async (req) => {
          const body = await jsonBody(req);
          if (!body.ok) return [400, { error: body.error }];
          const b = (body.value ?? {}) as { service?: unknown; namespace?: unknown; ttlMs?: unknown };
          const namespace = b.namespace ?? 'default';
          const ttlMs = b.ttlMs ?? defaultJoinTokenTtlMs;
          if (typeof b.service !== 'string' || !dnsLabel.test(b.service)) return [400, { error: '"service" is required: a DNS label such as "api"' }];
          if (typeof namespace !== 'string' || !dnsLabel.test(namespace)) return [400, { error: '"namespace" must be a DNS label' }];
          if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > maxJoinTokenTtlMs) return [400, { error: '"ttlMs" must be an integer between 1000 and one year' }];
          const { token, info } = await tokens.create({ service: b.service, namespace, ttlMs });
          return [201, { ...info, token }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/tokens\/([^/]+)$/,
      methods: {
        DELETE: async (_r, _u, [id]) => {
          const revoked = await tokens.revoke(id);
          return revoked ? [200, { revoked }] : [404, { error: `no join token with id ${id}` }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/trust-bundle$/,
      methods: {
        GET: async () => [200, { caSubject: ca.signingCertificate.subject, source: ca.source, roots: ca.trustBundle.roots() }],
        POST: async (req) => {
          const body = await readBody(req);
          if (!body.ok) return [413, { error: 'request body is larger than 4 MiB' }];
          try {
            const added = await ca.trustBundle.add(body.text);
            return [200, { added: added.map((r) => ({ fingerprint: r.fingerprint, subject: r.subject })), roots: ca.trustBundle.roots().length }];
          } catch (err) {
            return [400, { error: (err as Error).message }];
          }
        },
      },
    },
    {
      pattern: /^\/api\/v1\/trust-bundle\/([0-9a-f]{64})$/,
      methods: {
        DELETE: async (_r, _u, [fp]) => {
          if (fp === ca.rootFingerprint) return [409, { error: 'this root signs the CA in use: switch the CA (--ca-cert/--ca-key) before removing it' }];
          return (await ca.trustBundle.remove(fp)) ? [200, { removed: fp, roots: ca.trustBundle.roots().length }] : [404, { error: `no root with fingerprint ${fp} in the trust bundle` }];
        },
      },
    },
  ];
}

async function jsonBody(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const body = await readBody(req, 256 * 1024);
  if (!body.ok) return { ok: false, error: 'request body is larger than 256 KiB' };
  try {
    return { ok: true, value: body.text ? JSON.parse(body.text) : null };
  } catch (err) {
    return { ok: false, error: `the body is not JSON: ${(err as Error).message}` };
  }
}
