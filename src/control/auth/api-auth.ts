// Who may call the HTTP API. Writes always need the admin token; reads too with mode "reads".
// Read tokens (`trellis token create --read`) may do every read but never a write. The live tap
// shows request metadata (paths, identities) as it happens, so it needs the admin token or a
// read token in every mode. Certificate requests carry a join token or a mesh certificate
// instead, checked by their route.
import type { IncomingMessage } from 'node:http';
import type { AdminToken } from './admin-token.js';
import { ReadTokenStore } from './read-token-store.js';
import { bearerToken } from './token-secret.js';

/** writes: reads are open (fine on loopback); reads: every request but the health check needs a token. */
export type ApiAuthMode = 'writes' | 'reads';
export const apiAuthModes: readonly ApiAuthMode[] = ['writes', 'reads'];

/** Who made an admitted request: null when the route is open and no token was needed. */
export type ApiAuthDecision = { ok: true; principal: string | null } | { ok: false; status: 401 | 403; message: string };

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Reads that need the admin token itself: they show who may join the mesh or read the API. */
const adminReads = /^\/api\/v1\/(tokens|read-tokens)(\/|$)/;
/** Reads that need a token in every mode: the live stream of requests. */
const tokenReads = /^\/api\/v1\/tap$/;
const openPaths = /^\/api\/v1\/health$/;
const joinTokenPaths = /^\/api\/v1\/certificates$/;

export class ApiAuth {
  constructor(
    private readonly admin: AdminToken,
    readonly mode: ApiAuthMode,
    private readonly tokenFile: string,
    private readonly readTokens?: Pick<ReadTokenStore, 'check'>,
  ) {}

  async check(req: IncomingMessage, pathname: string): Promise<ApiAuthDecision> {
    const method = req.method ?? 'GET';
    const read = readMethods.has(method);
    if (read && openPaths.test(pathname)) return { ok: true, principal: null };
    if (!read && joinTokenPaths.test(pathname)) return { ok: true, principal: null };
    const needs = !read || adminReads.test(pathname) ? 'admin' : tokenReads.test(pathname) || this.mode === 'reads' ? 'read' : 'none';
    if (needs === 'none') return { ok: true, principal: null };
    const token = bearerToken(req.headers.authorization);
    if (token === null) return { ok: false, status: 401, message: this.missing(needs, read, pathname) };
    if (this.admin.matches(token)) return { ok: true, principal: 'admin' };
    if (!this.readTokens || !ReadTokenStore.looksLikeReadToken(token)) {
      return { ok: false, status: 403, message: needs === 'admin' ? 'the bearer token is not the admin token of this control plane' : 'the bearer token is neither the admin token nor a read token of this control plane' };
    }
    const checked = await this.readTokens.check(token);
    if (!checked.ok) return { ok: false, status: 403, message: checked.message };
    if (needs === 'admin') {
      return { ok: false, status: 403, message: `read token ${checked.token.id} can only read: ${read ? 'this read' : 'API writes'} need${read ? 's' : ''} the admin token` };
    }
    return { ok: true, principal: `read token ${checked.token.id}` };
  }

  private missing(needs: 'admin' | 'read', read: boolean, pathname: string): string {
    const how = `(trellis --token, TRELLIS_TOKEN or --token-file ${this.tokenFile})`;
    if (needs === 'admin') return `${read ? 'this API read needs' : 'API writes need'} the admin token: send "Authorization: Bearer <token>" ${how}`;
    const what = tokenReads.test(pathname) ? 'tapping (live request metadata) needs' : 'this API read needs';
    return `${what} a token with read access: send "Authorization: Bearer <token>" with the admin token or a read token from \`trellis token create --read\` ${how}`;
  }
}
