// The inbound listener's mTLS and authorization (docs/xds.md, "mTLS" and "Authorization"):
// a TLS filter chain (DownstreamTlsContext requiring a client certificate) behind the TLS
// inspector, optionally a plaintext chain with the same HttpConnectionManager (permissive), and
// Envoy RBAC filters before the router. Exactly these shapes are accepted; the rest is refused.
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { rbacFilterName, securityTypeUrls, tlsInspectorName, tlsTransportSocketName } from '../../xds/security-extensions.js';
import type { AuthzConfig, AuthzPolicy, PermissionRule, PrincipalRule } from '../authz/authz-config.js';
import type { ListenerConfig } from '../config/proxy-config.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export interface InboundChains {
  /** The chain whose HttpConnectionManager serves requests (the same on both chains). */
  chain: ProtoObject;
  tls?: ListenerConfig['tls'];
}

/** A listener's filter chains: one plain chain (no TLS), or the TLS chain plus, in permissive mode, the plaintext one. */
export function decodeFilterChains(l: ProtoObject, direction: ListenerConfig['direction']): DecodeResult<InboundChains> {
  const chains = (l.filter_chains ?? []) as ProtoObject[];
  const lf = (l.listener_filters ?? []) as ProtoObject[];
  const hasMatch = chains.some((c) => c.filter_chain_match && Object.keys(c.filter_chain_match).length > 0);
  if (!hasMatch) {
    if (lf.length) return refused('listener_filters are only supported with TLS filter chains');
    if (chains.length !== 1) return refused(`exactly one filter chain is required, got ${chains.length}`);
    return decoded({ chain: chains[0] });
  }
  if (direction !== 'inbound') return refused('filter_chain_match (mTLS) is only supported on the inbound listener');
  if (lf.length !== 1 || lf[0].name !== tlsInspectorName || lf[0].typed_config?.type_url !== securityTypeUrls.tlsInspector) {
    return refused(`listener_filters must be exactly the TLS inspector (${tlsInspectorName}, ${securityTypeUrls.tlsInspector})`);
  }
  if (chains.length < 1 || chains.length > 2) return refused(`mTLS needs one TLS filter chain and at most one plaintext chain, got ${chains.length}`);
  const [tlsChain, plain] = chains;
  const m = tlsChain.filter_chain_match as ProtoObject;
  if (m.transport_protocol !== 'tls' || Object.keys(m).length !== 1) return refused('filter_chains[0].filter_chain_match must be only transport_protocol "tls"');
  const ctx = downstreamTls(tlsChain.transport_socket);
  if (!ctx.ok) return refused(`filter_chains[0].transport_socket: ${ctx.error}`);
  let mode: 'strict' | 'permissive' = 'strict';
  if (plain) {
    const pm = (plain.filter_chain_match ?? {}) as ProtoObject;
    if (pm.transport_protocol !== 'raw_buffer' || Object.keys(pm).length !== 1) return refused('filter_chains[1].filter_chain_match must be only transport_protocol "raw_buffer"');
    if (plain.transport_socket) return refused('filter_chains[1] (plaintext) must not have a transport_socket');
    if (!sameFilters(tlsChain.filters, plain.filters)) return refused('filter_chains[0] and [1] must hold the same filters');
    mode = 'permissive';
  }
  const { filter_chain_match: _m, transport_socket: _t, name: _n, ...chain } = tlsChain;
  return decoded({ chain, tls: { mode, alpn: ctx.value } });
}

function sameFilters(a: unknown, b: unknown): boolean {
  const fa = (a ?? []) as ProtoObject[];
  const fb = (b ?? []) as ProtoObject[];
  if (fa.length !== fb.length) return false;
  return fa.every((f, i) => f.name === fb[i].name && f.typed_config?.type_url === fb[i].typed_config?.type_url
    && Buffer.compare(Buffer.from(f.typed_config?.value ?? []), Buffer.from(fb[i].typed_config?.value ?? [])) === 0);
}

/** The ALPN list of a DownstreamTlsContext that requires a client certificate. */
function downstreamTls(ts: ProtoObject | undefined): DecodeResult<string[]> {
  if (!ts || ts.name !== tlsTransportSocketName) return refused(`must be ${tlsTransportSocketName}`);
  if (ts.typed_config?.type_url !== securityTypeUrls.downstreamTlsContext) return refused(`unknown typed extension ${ts.typed_config?.type_url ?? '(none)'} (expected ${securityTypeUrls.downstreamTlsContext})`);
  const c = unpackAny(ts.typed_config as AnyMessage) as ProtoObject;
  if (c.require_client_certificate?.value !== true) return refused('require_client_certificate must be true (mutual TLS)');
  const { require_client_certificate: _r, common_tls_context: common, ...rest } = c;
  if (Object.keys(rest).length) return refused(`DownstreamTlsContext: ${Object.keys(rest).join(', ')} not supported`);
  return commonTls(common);
}

/**
 * A CommonTlsContext as Trellis sends it: ALPN and TLS 1.3; the certificate and trust bundle come
 * from the sidecar's workload identity, so certificates, SDS configs and providers are refused.
 */
export function commonTls(common: ProtoObject | undefined, allowValidation = false): DecodeResult<string[]> {
  // validation_context_type is protobufjs's name of the oneof that holds validation_context
  const { alpn_protocols: alpn, tls_params: params, validation_context: _v, validation_context_type: _vt, ...rest } = (common ?? {}) as ProtoObject;
  if (!allowValidation && _v) return refused('common_tls_context.validation_context is not supported here');
  if (Object.keys(rest).length) return refused(`common_tls_context: ${Object.keys(rest).join(', ')} not supported (the certificate is the sidecar's workload identity)`);
  if (params) {
    const { tls_minimum_protocol_version: min, ...other } = params as ProtoObject;
    if (Object.keys(other).length || (min !== undefined && min !== 'TLSv1_3')) return refused('common_tls_context.tls_params: only tls_minimum_protocol_version TLSv1_3 is supported');
  }
  const list = (alpn ?? []) as string[];
  if (list.some((p) => p !== 'http/1.1' && p !== 'h2')) return refused(`common_tls_context.alpn_protocols: only h2 and http/1.1 are supported, got ${list.join(',')}`);
  return decoded(list.length ? list : ['http/1.1']);
}

/**
 * Takes the RBAC filters off the front of an HttpConnectionManager's http_filters (a DENY one,
 * then an ALLOW one, each at most once); returns the authorization and the HCM without them.
 */
export function decodeRbacFilters(hcm: ProtoObject, direction: ListenerConfig['direction']): DecodeResult<{ authz?: AuthzConfig; hcm: ProtoObject }> {
  const filters = (hcm.http_filters ?? []) as ProtoObject[];
  let n = 0;
  const authz: AuthzConfig = { deny: [], allow: null };
  let sawDeny = false;
  while (n < filters.length && filters[n].typed_config?.type_url === securityTypeUrls.rbac) {
    const f = filters[n];
    const where = `http_filters[${n}] ("${f.name ?? ''}")`;
    if (direction !== 'inbound') return refused(`${where}: RBAC is only supported on the inbound listener`);
    if (f.name !== rbacFilterName) return refused(`${where}: an RBAC filter must be named ${rbacFilterName}`);
    const rbac = unpackAny(f.typed_config as AnyMessage) as ProtoObject;
    const { rules, ...rest } = rbac;
    if (Object.keys(rest).length) return refused(`${where}: ${Object.keys(rest).join(', ')} not supported (only rules)`);
    if (!rules) return refused(`${where}: rules are required`);
    const action = rules.action ?? 'ALLOW';
    const policies = decodePolicies(rules.policies ?? {});
    if (!policies.ok) return refused(`${where}: ${policies.error}`);
    if (action === 'DENY') {
      if (sawDeny || authz.allow) return refused(`${where}: a DENY filter must come first, once`);
      sawDeny = true;
      authz.deny = policies.value;
    } else if (action === 'ALLOW') {
      if (authz.allow) return refused(`${where}: only one ALLOW filter is supported`);
      authz.allow = policies.value;
    } else {
      return refused(`${where}: action ${action} is not supported (ALLOW or DENY)`);
    }
    const { action: _a, policies: _p, ...ruleRest } = rules;
    if (Object.keys(ruleRest).length) return refused(`${where}: rules.${Object.keys(ruleRest).join(', ')} not supported`);
    n++;
  }
  if (n === 0) return decoded({ hcm });
  return decoded({ authz, hcm: { ...hcm, http_filters: filters.slice(n) } });
}

function decodePolicies(policies: Record<string, ProtoObject>): DecodeResult<AuthzPolicy[]> {
  const out: AuthzPolicy[] = [];
  for (const name of Object.keys(policies).sort()) {
    const p = policies[name];
    const { principals, permissions, ...rest } = p;
    if (Object.keys(rest).length) return refused(`policies["${name}"]: ${Object.keys(rest).join(', ')} not supported`);
    const pr: PrincipalRule[] = [];
    for (const [i, x] of ((principals ?? []) as ProtoObject[]).entries()) {
      const r = principal(x);
      if (typeof r === 'string') return refused(`policies["${name}"].principals[${i}]: ${r}`);
      pr.push(r);
    }
    const pe: PermissionRule[] = [];
    for (const [i, x] of ((permissions ?? []) as ProtoObject[]).entries()) {
      const r = permission(x);
      if (typeof r === 'string') return refused(`policies["${name}"].permissions[${i}]: ${r}`);
      pe.push(r);
    }
    if (!pr.length || !pe.length) return refused(`policies["${name}"]: principals and permissions must not be empty`);
    out.push({ name, principals: pr, permissions: pe });
  }
  return decoded(out);
}

function principal(x: ProtoObject): PrincipalRule | string {
  const keys = Object.keys(x).filter((k) => k !== 'identifier');
  if (keys.length !== 1) return 'exactly one of any, authenticated, and_ids, or_ids is supported';
  if (x.any === true) return { kind: 'any' };
  if (x.authenticated) {
    const pn = (x.authenticated.principal_name ?? {}) as ProtoObject;
    if (pn.ignore_case) return 'principal_name.ignore_case is not supported';
    if (typeof pn.exact === 'string') return { kind: 'id-exact', value: pn.exact };
    if (typeof pn.prefix === 'string') return { kind: 'id-prefix', value: pn.prefix };
    return 'authenticated.principal_name must be exact or prefix';
  }
  const set = x.and_ids ?? x.or_ids;
  if (set) {
    const rules: PrincipalRule[] = [];
    for (const id of (set.ids ?? []) as ProtoObject[]) {
      const r = principal(id);
      if (typeof r === 'string') return r;
      rules.push(r);
    }
    return { kind: x.and_ids ? 'and' : 'or', rules };
  }
  return `${keys[0]} is not supported (any, authenticated.principal_name, and_ids, or_ids)`;
}

function permission(x: ProtoObject): PermissionRule | string {
  const keys = Object.keys(x).filter((k) => k !== 'rule');
  if (keys.length !== 1) return 'exactly one of any, url_path, header, and_rules, or_rules is supported';
  if (x.any === true) return { kind: 'any' };
  if (x.url_path) {
    const p = (x.url_path.path ?? {}) as ProtoObject;
    if (p.ignore_case) return 'url_path.path.ignore_case is not supported';
    if (typeof p.exact === 'string') return { kind: 'path-exact', value: p.exact };
    if (typeof p.prefix === 'string') return { kind: 'path-prefix', value: p.prefix };
    return 'url_path.path must be exact or prefix';
  }
  if (x.header) {
    const h = x.header as ProtoObject;
    if (h.name !== ':method' || typeof h.string_match?.exact !== 'string' || h.invert_match) return 'header: only ":method" with string_match.exact is supported';
    return { kind: 'method', value: h.string_match.exact };
  }
  const set = x.and_rules ?? x.or_rules;
  if (set) {
    const rules: PermissionRule[] = [];
    for (const r0 of (set.rules ?? []) as ProtoObject[]) {
      const r = permission(r0);
      if (typeof r === 'string') return r;
      rules.push(r);
    }
    return { kind: x.and_rules ? 'and' : 'or', rules };
  }
  return `${keys[0]} is not supported (any, url_path, header :method, and_rules, or_rules)`;
}
