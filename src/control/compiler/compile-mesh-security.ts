// mTLS and authorization layered onto a compiled snapshot (docs/xds.md, "mTLS" and
// "Authorization"): the inbound listener gets a TLS filter chain (and a plaintext one in
// permissive mode) and its RBAC filters; each mesh cluster says which SPIFFE ids its peers must
// present; each endpoint whose sidecar holds a certificate is marked for mTLS.
import type { Resource } from '../../resources/kinds.js';
import { unpackAny, type AnyMessage } from '../../xds/any.js';
import type { NodeInfo } from '../../xds/node.js';
import {
  mtlsMatchName, securityTypeUrls, tlsInspectorName, tlsModeKey, tlsModeMtls, tlsTransportSocketName, transportSocketMatchKey,
} from '../../xds/security-extensions.js';
import { typeUrls } from '../../xds/type-urls.js';
import { spiffeId } from '../ca/spiffe-id.js';
import type { Instance } from '../registry.js';
import { compileAuthorizationFilters, meshConfigOf, trustDomainOf } from './compile-authorization.js';
import { serviceMembers, type MeshService } from './mesh-services.js';
import { packMessage } from './pack.js';
import type { XdsObject } from './xds-object.js';

export const meshAlpn = ['h2', 'http/1.1'];

const tlsParams = { tls_minimum_protocol_version: 'TLSv1_3' };

export interface SecurityInput {
  resources: readonly Resource[];
  instances: readonly Instance[];
  services: readonly MeshService[];
  /** Proxies holding a valid certificate from the CA. */
  certified: ReadonlySet<string>;
  /** A service's members when already known (the mesh index); default: worked out from `instances`. */
  members?: (svc: MeshService) => Instance[];
}

/** The inbound listener with its TLS chains and RBAC filters. */
export function secureInboundListener(listener: XdsObject, input: SecurityInput, node: NodeInfo): XdsObject {
  const mode = meshConfigOf(input.resources)?.spec.mtls.mode ?? 'permissive';
  const chain = (listener.filter_chains as XdsObject[])[0];
  const hcmFilter = (chain.filters as XdsObject[])[0];
  const rbac = compileAuthorizationFilters(input.resources, input.services, node);
  let filters = [hcmFilter];
  if (rbac.length) {
    const hcm = unpackAny(hcmFilter.typed_config as AnyMessage)!;
    hcm.http_filters = [...rbac, ...(hcm.http_filters as XdsObject[])];
    filters = [{ ...hcmFilter, typed_config: packMessage(typeUrls.httpConnectionManager, hcm) }];
  }
  const chains: XdsObject[] = [{
    name: 'mtls',
    filter_chain_match: { transport_protocol: 'tls' },
    transport_socket: {
      name: tlsTransportSocketName,
      typed_config: packMessage(securityTypeUrls.downstreamTlsContext, {
        require_client_certificate: { value: true },
        common_tls_context: { alpn_protocols: meshAlpn, tls_params: tlsParams },
      }),
    },
    filters,
  }];
  if (mode === 'permissive') chains.push({ name: 'plaintext', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters });
  return {
    ...listener,
    listener_filters: [{ name: tlsInspectorName, typed_config: packMessage(securityTypeUrls.tlsInspector, {}) }],
    filter_chains: chains,
  };
}

/** The SPIFFE ids a service's peers may hold: those of its members' registered services, else its own. */
export function expectedIdentities(svc: MeshService, input: SecurityInput): string[] {
  const td = trustDomainOf(input.resources);
  const ids = new Set((input.members?.(svc) ?? serviceMembers(svc, input.instances)).map((i) => spiffeId(td, i.namespace, i.service)));
  if (ids.size === 0) ids.add(spiffeId(td, svc.namespace, svc.name));
  return [...ids].sort();
}

/** A mesh service's EDS cluster with the mTLS settings for its endpoints marked tlsMode "mtls". */
export function secureCluster(cluster: XdsObject, svc: MeshService, input: SecurityInput): XdsObject {
  return {
    ...cluster,
    transport_socket_matches: [{
      name: mtlsMatchName,
      match: { fields: { [tlsModeKey]: { string_value: tlsModeMtls } } },
      transport_socket: {
        name: tlsTransportSocketName,
        typed_config: packMessage(securityTypeUrls.upstreamTlsContext, {
          sni: svc.key,
          common_tls_context: {
            alpn_protocols: meshAlpn,
            tls_params: tlsParams,
            validation_context: {
              match_typed_subject_alt_names: expectedIdentities(svc, input).map((id) => ({ san_type: 'URI', matcher: { exact: id } })),
            },
          },
        }),
      },
    }],
  };
}

/** Whether a peer of the service can answer mTLS: then (only) its cluster carries the TLS settings. */
export function hasCertifiedMember(svc: MeshService, input: SecurityInput): boolean {
  return (input.members?.(svc) ?? serviceMembers(svc, input.instances)).some((i) => input.certified.has(i.proxyId));
}

/** Marks the lb_endpoints of certified instances (matched by inbound address and port). */
export function secureEndpoints(cla: XdsObject, input: SecurityInput): XdsObject {
  const certified = new Set(input.instances.filter((i) => input.certified.has(i.proxyId)).map((i) => `${i.address}:${i.inboundPort}`));
  if (certified.size === 0) return cla;
  return {
    ...cla,
    endpoints: (cla.endpoints as XdsObject[]).map((loc) => ({
      ...loc,
      lb_endpoints: (loc.lb_endpoints as XdsObject[]).map((lbe) => {
        const sa = ((lbe.endpoint as XdsObject).address as XdsObject).socket_address as XdsObject;
        if (!certified.has(`${sa.address as string}:${sa.port_value as number}`)) return lbe;
        const metadata = (lbe.metadata ?? {}) as XdsObject;
        const fm = (metadata.filter_metadata ?? {}) as XdsObject;
        return { ...lbe, metadata: { ...metadata, filter_metadata: { ...fm, [transportSocketMatchKey]: { fields: { [tlsModeKey]: { string_value: tlsModeMtls } } } } } };
      }),
    })),
  };
}
