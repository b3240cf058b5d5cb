/**
 * The bench's loopback ranges are 127.0.40.0/24, for the mTLS mesh 127.0.41.0/24, and for the
 * HTTP/2 and gRPC targets 127.0.42.0/24 and 127.0.43.0/24 (each pod its own address, as in the demo).
 */
export const benchAddresses = {
  upstream: '127.0.40.10',
  nginx: '127.0.40.11',
  haproxy: '127.0.40.12',
  control: '127.0.40.20',
  /** The sidecar in front of the upstream: the 1-hop target and the mesh's inbound side. */
  appPod: '127.0.40.21',
  /** The sidecar the mesh traffic enters through (outbound listener). */
  clientPod: '127.0.40.22',
  /** `trellis-mesh-telemetry`: its own control plane and sidecars, and the span sink. */
  telemetry: { control: '127.0.40.30', appPod: '127.0.40.31', clientPod: '127.0.40.32', collector: '127.0.40.33' },
  /** `trellis-mesh-telemetry-off`, its baseline: its own control plane and sidecars without request metrics. */
  telemetryOff: { control: '127.0.40.34', appPod: '127.0.40.35', clientPod: '127.0.40.36' },
  /** `trellis-mesh-h2-upgrade`: its own control plane (MeshConfig h2UpgradePolicy UPGRADE) and sidecars. */
  h2Upgrade: { control: '127.0.40.37', appPod: '127.0.40.38', clientPod: '127.0.40.39' },
  /**
   * `trellis-mesh-mtls`: its own control plane (MeshConfig mtls strict) and sidecars with
   * workload certificates. The new-connection runs connect from `handshakeSources` addresses
   * starting at `.100`, so a run of short connections never runs out of ephemeral ports.
   */
  mtls: { control: '127.0.41.20', appPod: '127.0.41.21', clientPod: '127.0.41.22', handshakeSourceBase: '127.0.41.', handshakeSourceFirst: 100, handshakeSources: 32 },
  /**
   * `h2-*` and `grpc-*`: the h2c upstream (nginx) and the gRPC server, and their own mTLS mesh:
   * a control plane, the client sidecar both mesh targets enter through, and one sidecar in front
   * of each upstream.
   */
  h2: { upstream: '127.0.42.10', control: '127.0.42.20', appPod: '127.0.42.21', clientPod: '127.0.42.22' },
  grpc: { upstream: '127.0.43.10', appPod: '127.0.43.21' },
} as const;

/** Port of the upstream and of the nginx/HAProxy listeners (each on its own address). */
export const benchPort = 8080;

/** Size of the upstream's response body, as in shared/PERFORMANCE.md. */
export const upstreamBodyBytes = 100;

/** The Service name the mesh path addresses with `Host:`. */
export const meshServiceName = 'bench-app';
export const clientServiceName = 'bench-client';

/** Services of the HTTP/2 mesh: an `http2` port in front of the h2c upstream, a `grpc` port in front of the gRPC server. */
export const h2ServiceName = 'bench-h2';
export const grpcServiceName = 'bench-grpc';
export const h2ClientServiceName = 'bench-h2-client';
/** Port of the gRPC server (the h2c upstream uses benchPort). */
export const grpcPort = 50051;
