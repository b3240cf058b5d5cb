// Which HTTP version a cluster's endpoints speak (docs/xds.md, "Upstream protocol"): Envoy's
// HttpProtocolOptions in typed_extension_protocol_options. explicit_http_config with
// http2_protocol_options: HTTP/2 (over mTLS with ALPN h2, else h2c with prior knowledge);
// with http_protocol_options, or no HttpProtocolOptions at all: HTTP/1.1. use_downstream_protocol_config
// (an app behind a Service port without a protocol): each request in the protocol it came in.
import type { AnyMessage } from '../../xds/any.js';
import { unpackAny } from './sidecar-any.js';
import { httpProtocolOptionsKey, typeUrls } from '../../xds/type-urls.js';
import type { Http2Options, UpstreamProtocol } from '../config/proxy-config.js';
import { defaultHttp2Options } from '../cluster/pool/h2-session-pool.js';
import { durationMs, wrapped } from './xds-decode-fields.js';
import { decoded, refused, type DecodeResult, type ProtoObject } from './xds-decode-result.js';

export interface UpstreamProtocolConfig {
  protocol: UpstreamProtocol;
  http2?: Http2Options;
}

/** Http2ProtocolOptions fields the sidecar acts on; any other is refused rather than ignored. */
const http2Fields = new Set(['max_concurrent_streams', 'initial_stream_window_size', 'initial_connection_window_size', 'connection_keepalive']);

export function decodeUpstreamProtocol(options: ProtoObject | undefined): DecodeResult<UpstreamProtocolConfig> {
  const any = options?.[httpProtocolOptionsKey] as AnyMessage | undefined;
  if (any === undefined) return decoded({ protocol: 'http1' });
  const where = `typed_extension_protocol_options["${httpProtocolOptionsKey}"]`;
  if (any.type_url !== typeUrls.httpProtocolOptions) return refused(`${where}: unknown typed extension ${any.type_url || '(empty type_url)'} (expected ${typeUrls.httpProtocolOptions})`);
  const hpo = (unpackAny(any) ?? {}) as ProtoObject;
  const { explicit_http_config: explicit, use_downstream_protocol_config: downstream, upstream_protocol_options: _oneof, common_http_protocol_options: common, ...rest } = hpo;
  if (Object.keys(rest).length) return refused(`${where}: ${Object.keys(rest).join(', ')} not supported (only explicit_http_config and use_downstream_protocol_config)`);
  if (common) return refused(`${where}.common_http_protocol_options is not supported (the cluster's own common_http_protocol_options carries the idle timeout)`);
  if (downstream) {
    const { http_protocol_options: _h1, http2_protocol_options: h2, http3_protocol_options: h3, ...other } = downstream as ProtoObject;
    if (h3 || Object.keys(other).length) return refused(`${where}.use_downstream_protocol_config: only http_protocol_options and http2_protocol_options are supported`);
    const settings = http2Options(h2 as ProtoObject | undefined, `${where}.use_downstream_protocol_config.http2_protocol_options`);
    return settings.ok ? decoded({ protocol: 'downstream', http2: settings.value }) : settings;
  }
  if (!explicit) return decoded({ protocol: 'http1' });
  if (explicit.http3_protocol_options) return refused(`${where}.explicit_http_config: HTTP/3 is not supported`);
  if (explicit.http_protocol_options) return decoded({ protocol: 'http1' });
  const h2 = explicit.http2_protocol_options as ProtoObject | undefined;
  if (!h2) return refused(`${where}.explicit_http_config must hold http_protocol_options or http2_protocol_options`);
  const settings = http2Options(h2, `${where}.explicit_http_config.http2_protocol_options`);
  return settings.ok ? decoded({ protocol: 'h2', http2: settings.value }) : settings;
}

/** Http2ProtocolOptions → the session settings (absent: the defaults); `where` names the field in errors. */
function http2Options(h2: ProtoObject | undefined, where: string): DecodeResult<Http2Options> {
  if (!h2) return decoded({ ...defaultHttp2Options });
  const unknown = Object.keys(h2).filter((k) => !http2Fields.has(k));
  if (unknown.length) return refused(`${where}: ${unknown.join(', ')} not supported`);
  const out: Http2Options = { ...defaultHttp2Options };
  out.maxConcurrentStreams = wrapped(h2.max_concurrent_streams) ?? out.maxConcurrentStreams;
  out.initialStreamWindowSize = wrapped(h2.initial_stream_window_size) ?? out.initialStreamWindowSize;
  out.initialConnectionWindowSize = wrapped(h2.initial_connection_window_size) ?? out.initialConnectionWindowSize;
  if (out.maxConcurrentStreams < 1) return refused(`${where}: max_concurrent_streams must be at least 1`);
  // RFC 9113 §6.9.2: windows between 65535 and 2^31-1
  for (const [f, v] of [['initial_stream_window_size', out.initialStreamWindowSize], ['initial_connection_window_size', out.initialConnectionWindowSize]] as const) {
    if (v < 65_535 || v > 2 ** 31 - 1) return refused(`${where}: ${f} must be between 65535 and 2147483647, got ${v}`);
  }
  const ka = h2.connection_keepalive as ProtoObject | undefined;
  if (ka) {
    const { interval, timeout, ...kaRest } = ka;
    if (Object.keys(kaRest).length) return refused(`${where}: connection_keepalive.${Object.keys(kaRest).join(', ')} not supported`);
    out.keepaliveIntervalMs = durationMs(interval) ?? 0;
    out.keepaliveTimeoutMs = durationMs(timeout) ?? out.keepaliveTimeoutMs;
    if (out.keepaliveTimeoutMs <= 0) return refused(`${where}: connection_keepalive.timeout must be positive`);
  }
  return decoded(out);
}
