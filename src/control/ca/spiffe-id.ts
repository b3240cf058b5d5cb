/** `spiffe://<trust-domain>/ns/<namespace>/svc/<service>` (shared/DESIGN.md §5). */
export function spiffeId(trustDomain: string, namespace: string, service: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/svc/${service}`;
}

export interface SpiffeParts { trustDomain: string; namespace: string; service: string }

export function parseSpiffeId(id: string): SpiffeParts | null {
  const m = /^spiffe:\/\/([a-z0-9.-]+)\/ns\/([^/]+)\/svc\/([^/]+)$/.exec(id);
  return m ? { trustDomain: m[1], namespace: m[2], service: m[3] } : null;
}
