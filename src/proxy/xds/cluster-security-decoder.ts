// mTLS to a cluster's peers (docs/xds.md, "mTLS"): one transport_socket_matches entry whose
// match is tlsMode "mtls" and whose UpstreamTlsContext names the SPIFFE ids peers must present;
// endpoints opt in with filter_metadata["envoy.transport_socket_match"].tlsMode = "mtls".
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { fromStruct } from '../../xds/node.js';
import { securityTypeUrls, tlsModeKey, tlsModeMtls, tlsTransportSocketName, transportSocketMatchKey } from '../../xds/security-extensions.js';
import type { ClusterConfig, EndpointConfig } from '../config/proxy-config.js';
import { commonTls } from './listener-security-decoder.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export function decodeUpstreamTls(c: ProtoObject): DecodeResult<ClusterConfig['upstreamTls'] | undefined> {
  if (c.transport_socket) return refused('transport_socket is not supported (mTLS travels in transport_socket_matches)');
  const matches = (c.transport_socket_matches ?? []) as ProtoObject[];
  if (matches.length === 0) return decoded(undefined);
  if (matches.length !== 1) return refused(`transport_socket_matches: exactly one entry (tlsMode "${tlsModeMtls}") is supported, got ${matches.length}`);
  const m = matches[0];
  const where = `transport_socket_matches[0] ("${m.name ?? ''}")`;
  const match = m.match ? fromStruct(m.match) : {};
  if (Object.keys(match).length !== 1 || match[tlsModeKey] !== tlsModeMtls) return refused(`${where}: match must be {${tlsModeKey}: "${tlsModeMtls}"}`);
  const ts = (m.transport_socket ?? {}) as ProtoObject;
  if (ts.name !== tlsTransportSocketName) return refused(`${where}: transport_socket must be ${tlsTransportSocketName}`);
  if (ts.typed_config?.type_url !== securityTypeUrls.upstreamTlsContext) return refused(`${where}: unknown typed extension ${ts.typed_config?.type_url ?? '(none)'} (expected ${securityTypeUrls.upstreamTlsContext})`);
  const ctx = unpackAny(ts.typed_config as AnyMessage) as ProtoObject;
  const { sni, common_tls_context: common, ...rest } = ctx;
  if (Object.keys(rest).length) return refused(`${where}: UpstreamTlsContext ${Object.keys(rest).join(', ')} not supported`);
  const alpn = commonTls(common, true);
  if (!alpn.ok) return refused(`${where}: ${alpn.error}`);
  const vc = (common?.validation_context ?? {}) as ProtoObject;
  const { match_typed_subject_alt_names: sans, ...vrest } = vc;
  if (Object.keys(vrest).length) return refused(`${where}: validation_context ${Object.keys(vrest).join(', ')} not supported (the trust bundle is the workload identity's)`);
  const ids: string[] = [];
  for (const [i, s] of ((sans ?? []) as ProtoObject[]).entries()) {
    if (s.san_type !== 'URI' || typeof s.matcher?.exact !== 'string' || s.matcher.ignore_case) return refused(`${where}: match_typed_subject_alt_names[${i}] must be a URI SAN with an exact matcher`);
    ids.push(s.matcher.exact);
  }
  if (ids.length === 0) return refused(`${where}: match_typed_subject_alt_names must name the peers' SPIFFE ids`);
  return decoded({ subjectAltNames: ids, alpn: alpn.value, sni: typeof sni === 'string' ? sni : '' });
}

/** Sets `tls` on the endpoints (decoded in the same order) whose metadata asks for mTLS. */
export function markTlsEndpoints(cla: ProtoObject, endpoints: EndpointConfig[]): void {
  let k = 0;
  for (const locality of (cla.endpoints ?? []) as ProtoObject[]) {
    for (const lbe of (locality.lb_endpoints ?? []) as ProtoObject[]) {
      const struct = lbe.metadata?.filter_metadata?.[transportSocketMatchKey];
      if (struct && fromStruct(struct)[tlsModeKey] === tlsModeMtls && endpoints[k]) endpoints[k].tls = true;
      k++;
    }
  }
}
