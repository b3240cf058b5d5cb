// API routes of read tokens (`trellis token create --read | list | revoke`): admin business, even
// to list (ApiAuth); a token's secret is in the creation answer only.
import type { IncomingMessage } from 'node:http';
import type { ReadTokenStore } from '../auth/read-token-store.js';
import { readBody } from './read-body.js';

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>;

export const defaultReadTokenTtlMs = 30 * 24 * 3_600_000;
export const minReadTokenTtlMs = 60_000;
export const maxReadTokenTtlMs = 365 * 24 * 3_600_000;
const maxNameLength = 64;

export function readTokenRoutes(tokens: ReadTokenStore | undefined): { pattern: RegExp; methods: Partial<Record<string, Handler>> }[] {
  if (!tokens) {
    const unavailable = async (): Promise<[number, unknown]> => [503, { error: 'this control plane keeps no read tokens' }];
    return [{ pattern: /^\/api\/v1\/read-tokens(\/[^/]+)?$/, methods: { GET: unavailable, POST: unavailable, DELETE: unavailable } }];
  }
  return [
    {
      pattern: /^\/api\/v1\/read-tokens$/,
      methods: {
        GET: async () => [200, tokens.list()],
        POST: async (req) => {
          const body = await readBody(req, 64 * 1024);
          if (!body.ok) return [413, { error: 'request body is larger than 64 KiB' }];
          let value: unknown;
          try {
            value = body.text ? JSON.parse(body.text) : {};
          } catch (err) {
            return [400, { error: `the body is not JSON: ${(err as Error).message}` }];
          }
          const b = (value ?? {}) as { name?: unknown; ttlMs?: unknown };
          const name = b.name ?? '';
          const ttlMs = b.ttlMs ?? defaultReadTokenTtlMs;
          if (typeof name !== 'string' || name.length > maxNameLength || [...name].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f')) {
            return [400, { error: `"name" must be text of at most ${maxNameLength} characters without control characters` }];
          }
          if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < minReadTokenTtlMs || ttlMs > maxReadTokenTtlMs) {
            return [400, { error: '"ttlMs" must be an integer between 60000 (one minute) and one year' }];
          }
          const { token, info } = await tokens.create({ name, ttlMs });
          return [201, { ...info, token }];
        },
      },
    },
    {
      pattern: /^\/api\/v1\/read-tokens\/([^/]+)$/,
      methods: {
        DELETE: async (_r, _u, [id]) => {
          const revoked = await tokens.revoke(id);
          return revoked ? [200, { revoked }] : [404, { error: `no read token with id ${id}` }];
        },
      },
    },
  ];
}
