// Who may call the HTTP API. Writes always need the admin token; reads too with mode "reads".
// Certificate requests carry a join token or a mesh certificate instead, checked by their route.
import type { IncomingMessage } from 'node:http';
import type { AdminToken } from './admin-token.js';
import { bearerToken } from './token-secret.js';

/** writes: reads are open (fine on loopback); reads: every request but the health check needs the token. */
export type ApiAuthMode = 'writes' | 'reads';
export const apiAuthModes: readonly ApiAuthMode[] = ['writes', 'reads'];

export type ApiAuthDecision = { ok: true } | { ok: false; status: 401 | 403; message: string };

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Reads that still need the token: they show who may join the mesh. */
const sensitiveReads = /^\/api\/v1\/tokens(\/|$)/;
const openPaths = /^\/api\/v1\/health$/;
const joinTokenPaths = /^\/api\/v1\/certificates$/;

export class ApiAuth {
  constructor(private readonly admin: AdminToken, readonly mode: ApiAuthMode, private readonly tokenFile: string) {}

  check(req: IncomingMessage, pathname: string): ApiAuthDecision {
    const method = req.method ?? 'GET';
    const read = readMethods.has(method);
    if (read && openPaths.test(pathname)) return { ok: true };
    if (!read && joinTokenPaths.test(pathname)) return { ok: true };
    if (read && this.mode === 'writes' && !sensitiveReads.test(pathname)) return { ok: true };
    const token = bearerToken(req.headers.authorization);
    if (token === null) {
      const what = read ? 'this API read' : 'API writes';
      return { ok: false, status: 401, message: `${what} need the admin token: send "Authorization: Bearer <token>" (trellis --token, TRELLIS_TOKEN or --token-file ${this.tokenFile})` };
    }
    if (!this.admin.matches(token)) return { ok: false, status: 403, message: 'the bearer token is not the admin token of this control plane' };
    return { ok: true };
  }
}
