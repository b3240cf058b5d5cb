/** Envoy's tcp_proxy idle_timeout default: a tunnel with no byte either way for an hour is closed. */
export const TCP_IDLE_TIMEOUT_MS = 3_600_000;
