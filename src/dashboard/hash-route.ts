// The dashboard's addresses: `#/`, `#/service/<name>`, `#/edge/<caller>/<callee>`, `#/proxies`, `#/tap`, `#/canaries`.

export type Route =
  | { page: 'topology' } | { page: 'service'; name: string } | { page: 'edge'; from: string; to: string }
  | { page: 'proxies' } | { page: 'tap' } | { page: 'canaries' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'service' && parts[1]) return { page: 'service', name: parts[1] };
  if (parts[0] === 'edge' && parts[1] && parts[2]) return { page: 'edge', from: parts[1], to: parts[2] };
  if (parts[0] === 'proxies') return { page: 'proxies' };
  if (parts[0] === 'tap') return { page: 'tap' };
  if (parts[0] === 'canaries') return { page: 'canaries' };
  return { page: 'topology' };
}

export function serviceHref(name: string): string {
  return `#/service/${encodeURIComponent(name)}`;
}

export function edgeHref(from: string, to: string): string {
  return `#/edge/${encodeURIComponent(from)}/${encodeURIComponent(to)}`;
}
