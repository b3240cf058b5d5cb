// What a listener's telemetry does, as the control plane sends it (docs/xds.md, "Telemetry"):
// absent = off. Metrics are always on and need no settings.

export interface TracingSettings {
  /** Share of requests that start a new trace (0-1); requests that arrive sampled are always traced. */
  samplingRate: number;
  /** OTLP/HTTP collector (`http://host:4318`); null = propagate and decide, export nothing. */
  collector: string | null;
}

export type AccessLogFilter = 'all' | 'errors';

export interface AccessLogSettings {
  format: 'json' | 'text';
  /** `errors`: only responses >= 500 and requests the proxy answered itself (an error code). */
  filter: AccessLogFilter;
}

export interface ListenerTelemetryConfig {
  tracing?: TracingSettings;
  accessLog?: AccessLogSettings;
}
