// The typed form of the inbound authorization the control plane sends as Envoy RBAC filters
// (docs/xds.md, "Authorization"): the decoders build it, authz-matcher.ts compiles it.

/** Who: Envoy's RBAC Principal, limited to what AuthorizationPolicy produces. */
export type PrincipalRule =
  | { kind: 'any' }
  | { kind: 'id-exact'; value: string }
  | { kind: 'id-prefix'; value: string }
  | { kind: 'and'; rules: PrincipalRule[] }
  | { kind: 'or'; rules: PrincipalRule[] };

/** What: Envoy's RBAC Permission, limited to paths and methods. */
export type PermissionRule =
  | { kind: 'any' }
  | { kind: 'path-exact'; value: string }
  | { kind: 'path-prefix'; value: string }
  | { kind: 'method'; value: string }
  | { kind: 'and'; rules: PermissionRule[] }
  | { kind: 'or'; rules: PermissionRule[] };

/** One RBAC policy: it matches when any principal and any permission match. */
export interface AuthzPolicy {
  name: string;
  principals: PrincipalRule[];
  permissions: PermissionRule[];
}

export interface AuthzConfig {
  /** A request matching any of these is denied. */
  deny: AuthzPolicy[];
  /** null: everything not denied is allowed; else a request must match one of these. */
  allow: AuthzPolicy[] | null;
}
