/**
 * nginx configs for the bench. Every path lives under the instance's own prefix so that no
 * system-wide file (pid, logs, temp dirs) is touched.
 */
export interface NginxCommon {
  readonly prefix: string;
  /** `user` only makes sense (and is only accepted silently) when the master runs as root. */
  readonly runAsUser: string | null;
}

function head(c: NginxCommon): string {
  return [
    c.runAsUser === null ? '' : `user ${c.runAsUser};`,
    'worker_processes 1;',
    `pid ${c.prefix}/nginx.pid;`,
    `error_log ${c.prefix}/error.log warn;`,
    'events { worker_connections 4096; }',
  ].filter((l) => l !== '').join('\n');
}

function httpCommon(c: NginxCommon): string {
  return [
    'access_log off;',
    // wrk keeps its connections for the whole run; nginx's default 1000 requests would close them.
    'keepalive_requests 10000000;',
    'keepalive_timeout 300s;',
    `client_body_temp_path ${c.prefix}/client_body;`,
    `proxy_temp_path ${c.prefix}/proxy;`,
    `fastcgi_temp_path ${c.prefix}/fastcgi;`,
    `uwsgi_temp_path ${c.prefix}/uwsgi;`,
    `scgi_temp_path ${c.prefix}/scgi;`,
  ].join('\n  ');
}

/** The upstream: `return 200` with a fixed body of `bodyBytes` bytes. */
export function nginxUpstreamConfig(c: NginxCommon, listen: string, bodyBytes: number): string {
  return `${head(c)}
http {
  ${httpCommon(c)}
  default_type text/plain;
  server {
    listen ${listen};
    location / { return 200 "${'x'.repeat(bodyBytes)}"; }
  }
}
`;
}

/**
 * The h2c upstream: the same `return 200` on a plaintext `http2` listener, which nginx 1.22
 * speaks with prior knowledge only (no HTTP/1.1 on it). keepalive_requests also bounds the
 * streams of an HTTP/2 connection since nginx 1.19.7 (1000 by default, then GOAWAY).
 */
export function nginxH2UpstreamConfig(c: NginxCommon, listen: string, bodyBytes: number): string {
  return `${head(c)}
http {
  ${httpCommon(c)}
  default_type text/plain;
  server {
    listen ${listen} http2;
    location / { return 200 "${'x'.repeat(bodyBytes)}"; }
  }
}
`;
}

/** The reference proxy: single worker, keep-alive pool to the upstream. */
export function nginxProxyConfig(c: NginxCommon, listen: string, upstream: string): string {
  return `${head(c)}
http {
  ${httpCommon(c)}
  upstream bench_upstream {
    server ${upstream};
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen ${listen};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}
