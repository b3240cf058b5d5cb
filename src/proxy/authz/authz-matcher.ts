// AuthorizationPolicy on the inbound side: the typed RBAC config compiled once, when it arrives,
// into plain predicate functions; a request costs a few string comparisons. DENY wins over
// ALLOW; with an allow list, a request must match one of its policies.
import type { AuthzConfig, AuthzPolicy, PermissionRule, PrincipalRule } from './authz-config.js';

type PrincipalTest = (peer: string | null) => boolean;
type PermissionTest = (method: string, path: string) => boolean;

interface CompiledPolicy {
  /** The metric label of a denial: `policy:<ns>/<name>` (the RBAC key without its rule index). */
  reason: string;
  principal: PrincipalTest;
  permission: PermissionTest;
  /**
   * Whether the policy's permissions cover a TCP connection, which has no path or method:
   * fail-closed as Istio does: an ALLOW rule that names paths or methods admits no TCP, a DENY
   * rule that names them denies all TCP from its principals.
   */
  tcp: boolean;
}

/** Reason of a request that no ALLOW policy admits (including a default deny). */
export const notAllowedReason = 'not-allowed';

export class Authorizer {
  private readonly deny: CompiledPolicy[];
  private readonly allow: CompiledPolicy[] | null;

  constructor(readonly config: AuthzConfig) {
    this.deny = config.deny.map((p) => compilePolicy(p, true));
    this.allow = config.allow === null ? null : config.allow.map((p) => compilePolicy(p, false));
  }

  /** Like check, for a TCP connection (no path, no method): null when it may pass, else why not. */
  checkConnection(peer: string | null): string | null {
    for (const p of this.deny) if (p.tcp && p.principal(peer)) return p.reason;
    const allow = this.allow;
    if (allow === null) return null;
    for (const p of allow) if (p.tcp && p.principal(peer)) return null;
    return notAllowedReason;
  }

  /**
   * null when the request may pass, else the reason it may not. `peer` is the caller's verified
   * SPIFFE id (null for a plaintext caller); `path` may carry a query, which is ignored.
   */
  check(peer: string | null, method: string, path: string): string | null {
    const q = path.indexOf('?');
    if (q !== -1) path = path.slice(0, q);
    for (const p of this.deny) if (p.principal(peer) && p.permission(method, path)) return p.reason;
    const allow = this.allow;
    if (allow === null) return null;
    for (const p of allow) if (p.principal(peer) && p.permission(method, path)) return null;
    return notAllowedReason;
  }
}

function compilePolicy(p: AuthzPolicy, deny: boolean): CompiledPolicy {
  const hash = p.name.lastIndexOf('#');
  return {
    reason: `policy:${hash === -1 ? p.name : p.name.slice(0, hash)}`,
    principal: anyOf(p.principals.map(compilePrincipal)),
    permission: anyOfPermissions(p.permissions.map(compilePermission)),
    tcp: p.permissions.some((r) => coversTcp(r, deny)),
  };
}

/** A permission applied to a TCP connection: HTTP-only conditions count as matched for DENY and unmatched for ALLOW. */
function coversTcp(r: PermissionRule, deny: boolean): boolean {
  switch (r.kind) {
    case 'any': return true;
    case 'path-exact': case 'path-prefix': case 'method': return deny;
    case 'or': return r.rules.some((x) => coversTcp(x, deny));
    case 'and': return r.rules.every((x) => coversTcp(x, deny));
  }
}

function anyOf(tests: PrincipalTest[]): PrincipalTest {
  if (tests.length === 1) return tests[0];
  return (peer) => {
    for (const t of tests) if (t(peer)) return true;
    return false;
  };
}

function anyOfPermissions(tests: PermissionTest[]): PermissionTest {
  if (tests.length === 1) return tests[0];
  return (m, p) => {
    for (const t of tests) if (t(m, p)) return true;
    return false;
  };
}

function compilePrincipal(r: PrincipalRule): PrincipalTest {
  switch (r.kind) {
    case 'any': return () => true;
    case 'id-exact': { const v = r.value; return (peer) => peer === v; }
    case 'id-prefix': { const v = r.value; return (peer) => peer !== null && peer.startsWith(v); }
    case 'or': return anyOf(r.rules.map(compilePrincipal));
    case 'and': {
      const tests = r.rules.map(compilePrincipal);
      return (peer) => {
        for (const t of tests) if (!t(peer)) return false;
        return true;
      };
    }
  }
}

function compilePermission(r: PermissionRule): PermissionTest {
  switch (r.kind) {
    case 'any': return () => true;
    case 'path-exact': { const v = r.value; return (_m, p) => p === v; }
    case 'path-prefix': { const v = r.value; return (_m, p) => p.startsWith(v); }
    case 'method': { const v = r.value; return (m) => m === v; }
    case 'or': return anyOfPermissions(r.rules.map(compilePermission));
    case 'and': {
      const tests = r.rules.map(compilePermission);
      return (m, p) => {
        for (const t of tests) if (!t(m, p)) return false;
        return true;
      };
    }
  }
}
