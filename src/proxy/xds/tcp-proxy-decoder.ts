// Envoy's tcp_proxy network filter → TcpProxyConfig (docs/protocols.md), and the inbound CONNECT
// routes that terminate its tunnels. Exactly the fields Trellis sends are accepted; anything else
// that would change behaviour is refused, naming the field.
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import type { ConnectRoute, TcpProxyConfig } from '../config/proxy-config.js';
import { durationMs } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

/** Envoy's defaults: idle 1 h, one connect attempt. */
const defaultIdleTimeoutMs = 3_600_000;

const refusedFields = [
  'weighted_clusters', 'on_demand', 'metadata_match', 'downstream_idle_timeout', 'upstream_idle_timeout', 'access_log',
  'hash_policy', 'max_downstream_connection_duration', 'access_log_options', 'access_log_flush_interval', 'flush_access_log_on_connected',
];

export function decodeTcpProxy(any: AnyMessage): DecodeResult<TcpProxyConfig> {
  const t = unpackAny(any) as ProtoObject | null;
  if (!t) return refused(`cannot decode ${any.type_url}`);
  for (const f of refusedFields) {
    const v = t[f];
    if (v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0)) return refused(`TcpProxy.${f} is not supported`);
  }
  if (typeof t.cluster !== 'string' || t.cluster === '') return refused('TcpProxy.cluster is required');
  const idle = durationMs(t.idle_timeout);
  if (idle !== undefined && idle < 0) return refused('TcpProxy.idle_timeout must not be negative');
  const attempts = t.max_connect_attempts?.value ?? 1;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 10) return refused(`TcpProxy.max_connect_attempts must be 1-10, got ${attempts}`);
  const out: TcpProxyConfig = { cluster: t.cluster, idleTimeoutMs: idle ?? defaultIdleTimeoutMs, maxConnectAttempts: attempts };
  const tc = t.tunneling_config as ProtoObject | undefined;
  if (tc) {
    const { hostname, ...rest } = tc;
    const set = Object.entries(rest).filter(([, v]) => v !== undefined && v !== null && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0));
    if (set.length) return refused(`TcpProxy.tunneling_config.${set[0][0]} is not supported (only hostname: an HTTP/1.1 CONNECT)`);
    if (typeof hostname !== 'string' || !/^[^\s:/]+:\d{1,5}$/.test(hostname)) return refused(`TcpProxy.tunneling_config.hostname must be HOST:PORT, got "${hostname ?? ''}"`);
    out.tunnelHostname = hostname;
  }
  return decoded(out);
}

/** Whether a route is a CONNECT route (its match has connect_matcher). */
export function isConnectRoute(route: ProtoObject): boolean {
  return route.match?.connect_matcher !== undefined && route.match?.connect_matcher !== null;
}

/**
 * A CONNECT route as Trellis sends it on the inbound listener: connect_matcher, one header
 * matcher `:authority` with suffix `:<port>`, and a cluster action whose upgrade_configs
 * terminate CONNECT (upgrade_type CONNECT with connect_config).
 */
export function decodeConnectRoute(route: ProtoObject): DecodeResult<ConnectRoute> {
  const name = typeof route.name === 'string' ? route.name : '';
  const m = route.match as ProtoObject;
  const { connect_matcher: _c, headers, ...matchRest } = m;
  const other = Object.entries(matchRest).filter(([k, v]) => k !== 'path_specifier' && v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0));
  if (other.length) return refused(`a CONNECT route matches only connect_matcher and :authority, got match.${other[0][0]}`);
  const hs = (headers ?? []) as ProtoObject[];
  const suffix = hs.length === 1 && hs[0].name === ':authority' ? hs[0].string_match?.suffix : undefined;
  const port = typeof suffix === 'string' && /^:\d{1,5}$/.test(suffix) ? Number(suffix.slice(1)) : NaN;
  if (!(port >= 1 && port <= 65535)) return refused('a CONNECT route needs exactly one header matcher: ":authority" with string_match.suffix ":<port>"');
  const action = route.route as ProtoObject | undefined;
  if (!action || typeof action.cluster !== 'string' || action.cluster === '') return refused('a CONNECT route needs route.cluster');
  const ups = (action.upgrade_configs ?? []) as ProtoObject[];
  if (ups.length !== 1 || ups[0].upgrade_type !== 'CONNECT' || !ups[0].connect_config) {
    return refused('a CONNECT route needs route.upgrade_configs [{upgrade_type: "CONNECT", connect_config: {}}] (the sidecar terminates the tunnel)');
  }
  return decoded({ name: name || `connect:${port}`, port, cluster: action.cluster });
}
