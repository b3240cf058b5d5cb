/** HAProxy in http mode with one thread, keeping connections to the upstream alive and shared. */
export function haproxyConfig(pidFile: string, listen: string, upstream: string): string {
  return `global
  nbthread 1
  pidfile ${pidFile}

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 300s

frontend bench_in
  bind ${listen}
  default_backend bench_upstream

backend bench_upstream
  server upstream ${upstream}
`;
}
